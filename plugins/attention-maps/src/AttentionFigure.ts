import { ColorMap, type Rgb, Figure, type Raster, GridLayout, MIN_FONT_SIZE, panelFontSize, textWidth } from '@bt-platform/sdk/draw';

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

/** Where everything goes: one row of panels under a title, with the font sizes used. */
export interface AttentionLayout {
  grid: GridLayout;
  width: number;
  height: number;
  titleSize: number;
  labelSize: number;
}

/**
 * One image in one row: the image, its fused thresholded head masks, then each head's attention
 * heatmap. Text grows with the panels (and is never under 12px), so the figure stays readable
 * when a report scales the row down to its width.
 */
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

  private labels(sample: AttentionSample): string[] {
    return ['image', `fused heads (${Math.round(this.threshold * 100)}%)`, ...sample.attention.map((_, h) => `head ${h}`)];
  }

  layout(sample: AttentionSample, title: string): AttentionLayout {
    const { width, height } = sample.image;
    // Panels at least as wide as their labels at the smallest font (a head's label has a swatch before it).
    const widestLabel = Math.max(...this.labels(sample).map((label, k) => textWidth(label, MIN_FONT_SIZE) + (k >= 2 ? MIN_FONT_SIZE * 1.5 : 0)));
    const scale = GridLayout.scaleFor(height, width, Math.max(this.minPanelSize, widestLabel));
    const labelSize = panelFontSize(width * scale, height * scale);
    const titleSize = Math.round(labelSize * 1.25);
    const top = Math.round(titleSize + labelSize + 2 * labelSize * 0.6 + 6);
    const gap = Math.max(12, Math.round(labelSize * 1.2));
    const grid = new GridLayout(1, 2 + sample.attention.length, width * scale, height * scale, { top, gap, left: gap });
    const figureWidth = Math.ceil(Math.max(grid.width, textWidth(title, titleSize) + 2 * grid.left));
    return { grid, width: figureWidth, height: grid.height, titleSize, labelSize };
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

  compose(sample: AttentionSample, title: string): Figure {
    const { grid, width, height, titleSize, labelSize } = this.layout(sample, title);
    const figure = new Figure(width, height);
    figure.text(title, grid.left, Math.round(titleSize * 1.2), { size: titleSize, weight: 'bold' });
    const labels = this.labels(sample);
    const panels: Array<{ raster: Raster; colour?: Rgb }> = [
      { raster: sample.image },
      { raster: this.overlay(sample) },
      ...sample.attention.map((values, h) => {
        let lo = Infinity;
        let hi = -Infinity;
        for (const v of values) {
          lo = Math.min(lo, v);
          hi = Math.max(hi, v);
        }
        return {
          raster: { data: this.heatmap.paint(values, lo, hi), width: sample.gridWidth, height: sample.gridHeight },
          colour: this.headColour(h, sample.attention.length),
        };
      }),
    ];
    const baseline = grid.top - Math.round(labelSize * 0.5);
    const swatch = Math.round(labelSize * 0.9);
    panels.forEach((panel, k) => {
      const { left, top } = grid.cell(0, k);
      figure.image(panel.raster, left, top, grid.panelWidth, grid.panelHeight);
      const labelX = panel.colour ? left + Math.round(swatch * 1.5) : left;
      if (panel.colour) figure.rect(left, baseline - swatch, swatch, swatch, `rgb(${panel.colour.join(',')})`, '#333');
      figure.text(labels[k], labelX, baseline, { size: labelSize });
    });
    return figure;
  }

  async draw(sample: AttentionSample, title: string, file: string): Promise<void> {
    await this.compose(sample, title).toFile(file);
  }
}
