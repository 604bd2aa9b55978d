import type { DataModule } from '@bt-platform/sdk';
import { ColorMap, type Rgb, type Raster } from '@bt-platform/sdk/draw';

/** VOC's colour for the void label. */
const VOID_COLOUR: Rgb = [224, 224, 192];

/** Paints label maps with the datamodule's palette and names the classes for legends. */
export class LabelPainter {
  private readonly palette: Rgb[];
  private readonly names: string[];
  readonly ignoreIndex: number | undefined;

  constructor(datamodule: Pick<DataModule, 'palette' | 'classNames' | 'ignoreIndex'>, numClasses: number) {
    // Without a palette, spread the classes over a colour map so neighbouring ids still differ.
    const fallback = new ColorMap('rainbow-soft');
    this.palette = Array.from({ length: numClasses }, (_, k) => (datamodule.palette?.[k] as Rgb | undefined) ?? fallback.rgb(numClasses > 1 ? k / (numClasses - 1) : 0));
    this.names = Array.from({ length: numClasses }, (_, k) => datamodule.classNames?.[k] ?? `class ${k}`);
    this.ignoreIndex = datamodule.ignoreIndex;
  }

  colour(label: number): Rgb {
    return this.palette[label] ?? VOID_COLOUR;
  }

  name(label: number): string {
    if (label === this.ignoreIndex) return 'void';
    return this.names[label] ?? `label ${label}`;
  }

  paint(labels: ArrayLike<number>, width: number, height: number): Raster {
    const data = new Uint8Array(width * height * 3);
    for (let p = 0; p < width * height; p++) data.set(this.colour(labels[p]), p * 3);
    return { data, width, height };
  }
}
