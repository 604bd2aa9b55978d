import { type ColorMap, Figure, GridLayout, textWidth } from '@bt-platform/sdk/draw';

export interface ErfMap {
  layer: string;
  /** Mean ERF over the images, [height · width], not normalised. */
  values: Float32Array;
  height: number;
  width: number;
}

const MAX_COLUMNS = 4;
/** Decades shown by the log scale: values below max / 1000 are drawn as 0. */
const LOG_DECADES = 3;

export type ErfScale = 'linear' | 'log';

/** One heatmap per layer, each normalised to its own maximum (linear or log scale), titled with the layer name. */
export class ErfFigure {
  constructor(
    private readonly colorMap: ColorMap,
    private readonly minPanelSize: number,
    private readonly scale: ErfScale = 'log',
  ) {}

  /** Values in [0, 1] relative to the map's maximum, linearly or over the last decades. */
  normalise(values: Float32Array): Float32Array {
    let hi = 0;
    for (const v of values) if (Number.isFinite(v)) hi = Math.max(hi, v);
    if (hi === 0) return new Float32Array(values.length);
    if (this.scale === 'linear') return values.map((v) => v / hi);
    return values.map((v) => (v > 0 ? Math.max(0, 1 + Math.log10(v / hi) / LOG_DECADES) : 0));
  }

  layout(maps: ErfMap[]): GridLayout {
    const { height, width } = maps[0];
    const scale = GridLayout.scaleFor(height, width, this.minPanelSize);
    const columns = Math.min(maps.length, MAX_COLUMNS);
    return new GridLayout(Math.ceil(maps.length / columns), columns, width * scale, height * scale, { top: 62, gap: 28, left: 12 });
  }

  async draw(maps: ErfMap[], title: string, subtitle: string, file: string): Promise<void> {
    const grid = this.layout(maps);
    // Wide enough for the titles at a legible size even with a single small panel.
    const figure = new Figure(Math.ceil(Math.max(grid.width + 4, 420, textWidth(subtitle, 12) + 2 * grid.left)), grid.height);
    figure.text(title, grid.left, 20, { size: 15, weight: 'bold', maxWidth: figure.width - 2 * grid.left });
    figure.text(subtitle, grid.left, 36, { size: 12, fill: '#444', maxWidth: figure.width - 2 * grid.left });
    maps.forEach((map, k) => {
      const { left, top } = grid.cell(Math.floor(k / grid.columns), k % grid.columns);
      figure.image({ data: this.colorMap.paint(this.normalise(map.values), 0, 1), width: map.width, height: map.height }, left, top, grid.panelWidth, grid.panelHeight);
      figure.text(map.layer, left + grid.panelWidth / 2, top - 8, { size: 13, anchor: 'middle', maxWidth: grid.panelWidth + grid.gap - 4 });
    });
    await figure.toFile(file);
  }
}
