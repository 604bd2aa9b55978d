import { Figure, type Raster, GridLayout } from '@bt-platform/sdk/draw';
import type { LabelPainter } from './LabelPainter.js';

export interface PredictionRow {
  image: Raster;
  /** Ground-truth and predicted labels, row-major, image-sized. */
  truth: ArrayLike<number>;
  prediction: ArrayLike<number>;
}

const LEGEND_WIDTH = 180;
const LEGEND_LINE = 20;

/** Rows of image | ground truth | prediction, and a legend of the classes that appear. */
export class PredictionsFigure {
  constructor(
    private readonly painter: LabelPainter,
    private readonly minPanelSize: number,
  ) {}

  layout(height: number, width: number, rows: number): GridLayout {
    const scale = GridLayout.scaleFor(height, width, this.minPanelSize);
    return new GridLayout(rows, 3, width * scale, height * scale, { right: LEGEND_WIDTH });
  }

  /** Labels present in any row's truth or prediction, ascending (void last). */
  presentLabels(rows: PredictionRow[]): number[] {
    const seen = new Set<number>();
    for (const row of rows) for (const labels of [row.truth, row.prediction]) for (let i = 0; i < labels.length; i++) seen.add(labels[i]);
    return [...seen].sort((a, b) => a - b);
  }

  async draw(rows: PredictionRow[], title: string, file: string): Promise<void> {
    const { width, height } = rows[0].image;
    const grid = this.layout(height, width, rows.length);
    const labels = this.presentLabels(rows);
    const legendHeight = grid.top + 26 + labels.length * LEGEND_LINE;
    const figure = new Figure(grid.width, Math.max(grid.height, legendHeight));
    ['Image', 'Ground truth', 'Prediction'].forEach((name, column) => {
      figure.text(name, grid.cell(0, column).left + grid.panelWidth / 2, grid.top - 9, { size: 14, anchor: 'middle', weight: 'bold', maxWidth: grid.panelWidth });
    });
    rows.forEach((row, r) => {
      const panels = [row.image, this.painter.paint(row.truth, width, height), this.painter.paint(row.prediction, width, height)];
      panels.forEach((raster, column) => {
        const { left, top } = grid.cell(r, column);
        figure.image(raster, left, top, grid.panelWidth, grid.panelHeight);
      });
    });
    const legendLeft = grid.width - LEGEND_WIDTH + 8;
    figure.text(title, legendLeft, grid.top - 9, { size: 12, fill: '#444' });
    figure.text('Classes', legendLeft, grid.top + 14, { size: 14, weight: 'bold' });
    labels.forEach((label, k) => {
      const y = grid.top + 26 + k * LEGEND_LINE;
      const [r, g, b] = this.painter.colour(label);
      figure.rect(legendLeft, y, 14, 14, `rgb(${r},${g},${b})`, '#555');
      figure.text(this.painter.name(label), legendLeft + 22, y + 12, { size: 13 });
    });
    await figure.toFile(file);
  }
}
