import { type ColorMap, type Rgb, Figure, textWidth } from '@bt-platform/sdk/draw';

export interface CrossCorrelationLayout {
  width: number;
  height: number;
  /** Where the matrix is drawn: cell (i, j) covers [left + j·cell, top + i·cell). */
  matrix: { left: number; top: number; side: number };
  colorBar: { left: number; top: number; width: number; height: number };
}

const MARGIN = 16;
const TITLE_SIZE = 16;
const SUBTITLE_SIZE = 13;
const TICK_SIZE = 12;
const TICKS = 5;

/**
 * A D × D matrix as a heatmap under a two-line title, with a colour bar whose ticks are labelled.
 * When the range spans 0, each sign gets its own half of the colour map, so 0 always sits at the
 * map's centre (white for a diverging map) even if the range is not symmetric.
 */
export class CrossCorrelationFigure {
  constructor(
    private readonly colorMap: ColorMap,
    private readonly range: [number, number],
    private readonly side: number,
  ) {}

  /** Wide enough for the matrix, the colour bar with its labels, and `textWidth` of title. */
  layout(titleWidth = 0): CrossCorrelationLayout {
    const top = 58;
    const matrix = { left: MARGIN, top, side: this.side };
    const colorBar = { left: MARGIN + this.side + 20, top, width: 22, height: this.side };
    const width = Math.ceil(Math.max(colorBar.left + colorBar.width + 64, titleWidth + 2 * MARGIN));
    return { width, height: top + this.side + MARGIN, matrix, colorBar };
  }

  /** Position of `value` on the colour map, in [0, 1]. */
  level(value: number): number {
    const [lo, hi] = this.range;
    const t = lo < 0 && hi > 0 ? (value < 0 ? 0.5 - (0.5 * value) / lo : 0.5 + (0.5 * value) / hi) : (value - lo) / (hi - lo);
    return Math.min(1, Math.max(0, t));
  }

  colour(value: number): Rgb {
    return this.colorMap.rgb(this.level(value));
  }

  /** The value drawn at colour-map position `t` (the inverse of `level`). */
  private valueAt(t: number): number {
    const [lo, hi] = this.range;
    if (lo < 0 && hi > 0) return t < 0.5 ? lo * (1 - 2 * t) : hi * (2 * t - 1);
    return lo + (hi - lo) * t;
  }

  compose(values: Float32Array, dim: number, title: string, subtitle = ''): Figure {
    const layout = this.layout(Math.max(textWidth(title, TITLE_SIZE), textWidth(subtitle, SUBTITLE_SIZE)));
    const figure = new Figure(layout.width, layout.height);
    const { matrix, colorBar } = layout;
    figure.text(title, MARGIN, 24, { size: TITLE_SIZE, weight: 'bold' });
    if (subtitle) figure.text(subtitle, MARGIN, 44, { size: SUBTITLE_SIZE, fill: '#333' });
    const levels = values.map((v) => this.level(v));
    // Down-scaling a large matrix averages neighbouring cells; up-scaling keeps cells sharp.
    figure.image({ data: this.colorMap.paint(levels, 0, 1), width: dim, height: dim }, matrix.left, matrix.top, matrix.side, matrix.side, dim > matrix.side);
    const steps = 256;
    const ramp = Float32Array.from({ length: steps }, (_, i) => 1 - i / (steps - 1));
    figure.image({ data: this.colorMap.paint(ramp, 0, 1), width: 1, height: steps }, colorBar.left, colorBar.top, colorBar.width, colorBar.height, true);
    figure.rect(colorBar.left, colorBar.top, colorBar.width, colorBar.height, 'none', '#333');
    for (let k = 0; k < TICKS; k++) {
      const value = this.valueAt(1 - k / (TICKS - 1));
      const y = colorBar.top + (colorBar.height * k) / (TICKS - 1);
      figure.rect(colorBar.left + colorBar.width, y - 0.5, 5, 1, '#333');
      figure.text(Number(value.toFixed(2)).toString(), colorBar.left + colorBar.width + 8, y + 5, { size: TICK_SIZE });
    }
    return figure;
  }

  async draw(values: Float32Array, dim: number, title: string, subtitle: string, file: string): Promise<void> {
    await this.compose(values, dim, title, subtitle).toFile(file);
  }
}
