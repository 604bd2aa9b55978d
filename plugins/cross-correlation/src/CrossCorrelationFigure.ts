import { ColorMap, Figure } from '@bt-platform/sdk/draw';

export interface CrossCorrelationLayout {
  width: number;
  height: number;
  /** Where the matrix is drawn: cell (i, j) covers [left + j·cell, top + i·cell). */
  matrix: { left: number; top: number; side: number };
  colorBar: { left: number; top: number; width: number; height: number };
}

/** A D × D matrix as a heatmap with a title and a colour bar labelled with its value range. */
export class CrossCorrelationFigure {
  constructor(
    private readonly colorMap: ColorMap,
    private readonly range: [number, number],
    private readonly side: number,
  ) {}

  layout(): CrossCorrelationLayout {
    const top = 40;
    const margin = 16;
    const matrix = { left: margin, top, side: this.side };
    const colorBar = { left: margin + this.side + 20, top, width: 22, height: this.side };
    return { width: colorBar.left + colorBar.width + 64, height: top + this.side + margin, matrix, colorBar };
  }

  async draw(values: Float32Array, dim: number, title: string, file: string): Promise<void> {
    const [lo, hi] = this.range;
    const layout = this.layout();
    const figure = new Figure(layout.width, layout.height);
    const { matrix, colorBar } = layout;
    figure.text(title, layout.width / 2, 26, { size: 16, anchor: 'middle', weight: 'bold' });
    // Down-scaling a large matrix averages neighbouring cells; up-scaling keeps cells sharp.
    figure.image({ data: this.colorMap.paint(values, lo, hi), width: dim, height: dim }, matrix.left, matrix.top, matrix.side, matrix.side, dim > matrix.side);
    const steps = 256;
    const ramp = Float32Array.from({ length: steps }, (_, i) => hi - ((hi - lo) * i) / (steps - 1));
    figure.image({ data: this.colorMap.paint(ramp, lo, hi), width: 1, height: steps }, colorBar.left, colorBar.top, colorBar.width, colorBar.height, true);
    figure.rect(colorBar.left, colorBar.top, colorBar.width, colorBar.height, 'none', '#333');
    const ticks = 5;
    for (let k = 0; k < ticks; k++) {
      const value = hi - ((hi - lo) * k) / (ticks - 1);
      const y = colorBar.top + (colorBar.height * k) / (ticks - 1);
      figure.rect(colorBar.left + colorBar.width, y - 0.5, 5, 1, '#333');
      figure.text(Number(value.toFixed(2)).toString(), colorBar.left + colorBar.width + 8, y + 5, { size: 12 });
    }
    await figure.toFile(file);
  }
}
