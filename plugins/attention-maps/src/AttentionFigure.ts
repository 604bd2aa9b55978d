import { ColorMap, type Rgb, Figure, type Raster, GridLayout } from '@bt-platform/sdk/draw';

export interface AttentionSample {
  image: Raster;
  /** CLS → patch attention per head, [heads][gridH · gridW]. */
  attention: Float32Array[];
  gridHeight: number;
  gridWidth: number;
  /** Thresholded masks per head, same layout as `attention`. */
  masks: Uint8Array[];
}

const MASK_ALPHA = 0.5;
const MAX_COLUMNS = 8;

/** One image: the image, its fused thresholded head masks, then each head's attention heatmap. */
export class AttentionFigure {
  private readonly heads: ColorMap;

  constructor(
    private readonly heatmap: ColorMap,
    private readonly minPanelSize: number,
    private readonly threshold: number,
  ) {
    this.heads = new ColorMap('hsv');
  }

  /** Distinct colour of head `h` of `count` (hues around the wheel). */
  headColour(h: number, count: number): Rgb {
    return this.heads.rgb(h / count);
  }

  layout(sample: AttentionSample): GridLayout {
    const panels = 2 + sample.attention.length;
    const columns = Math.min(panels, MAX_COLUMNS);
    const { width, height } = sample.image;
    const scale = GridLayout.scaleFor(height, width, this.minPanelSize);
    return new GridLayout(Math.ceil(panels / columns), columns, width * scale, height * scale, { top: 48, gap: 24 });
  }

  /** The image with each head's kept patches blended in its colour, at image resolution. */
  overlay(sample: AttentionSample): Raster {
    const { image, gridHeight, gridWidth, masks } = sample;
    const data = Uint8Array.from(image.data);
    const py = image.height / gridHeight;
    const px = image.width / gridWidth;
    masks.forEach((mask, h) => {
      const colour = this.headColour(h, masks.length);
      for (let y = 0; y < image.height; y++) {
        for (let x = 0; x < image.width; x++) {
          if (!mask[Math.floor(y / py) * gridWidth + Math.floor(x / px)]) continue;
          const at = (y * image.width + x) * 3;
          for (let c = 0; c < 3; c++) data[at + c] = Math.round(data[at + c] * (1 - MASK_ALPHA) + colour[c] * MASK_ALPHA);
        }
      }
    });
    return { data, width: image.width, height: image.height };
  }

  async draw(sample: AttentionSample, title: string, file: string): Promise<void> {
    const grid = this.layout(sample);
    const figure = new Figure(grid.width, grid.height);
    figure.text(title, grid.left, 20, { size: 15, weight: 'bold', maxWidth: grid.width - 2 * grid.left });
    const panels: Array<{ raster: Raster; label: string; colour?: Rgb }> = [
      { raster: sample.image, label: 'image' },
      { raster: this.overlay(sample), label: `fused heads (${Math.round(this.threshold * 100)}%)` },
      ...sample.attention.map((values, h) => {
        let lo = Infinity;
        let hi = -Infinity;
        for (const v of values) {
          lo = Math.min(lo, v);
          hi = Math.max(hi, v);
        }
        return {
          raster: { data: this.heatmap.paint(values, lo, hi), width: sample.gridWidth, height: sample.gridHeight },
          label: `head ${h}`,
          colour: this.headColour(h, sample.attention.length),
        };
      }),
    ];
    panels.forEach((panel, k) => {
      const { left, top } = grid.cell(Math.floor(k / grid.columns), k % grid.columns);
      figure.image(panel.raster, left, top, grid.panelWidth, grid.panelHeight);
      const labelX = panel.colour ? left + 16 : left;
      if (panel.colour) figure.rect(left, top - 16, 11, 11, `rgb(${panel.colour.join(',')})`, '#333');
      figure.text(panel.label, labelX, top - 6, { size: 13, maxWidth: grid.panelWidth - (labelX - left) });
    });
    await figure.toFile(file);
  }
}
