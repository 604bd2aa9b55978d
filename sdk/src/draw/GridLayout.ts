/** Smallest font a figure uses: readable at the figure's own resolution. */
export const MIN_FONT_SIZE = 12;

/**
 * Font size for labels of panels this large: proportional to the panel, so that text keeps its
 * size relative to the images when a wide figure is scaled down to fit a page, and never under
 * MIN_FONT_SIZE. Above the minimum, a label of up to 22 characters fits the panel's width.
 */
export function panelFontSize(panelWidth: number, panelHeight: number): number {
  return Math.max(MIN_FONT_SIZE, Math.round(Math.min(panelWidth, panelHeight) / 14));
}

export interface GridMargins {
  /** Band above the first row, for column titles. */
  top?: number;
  /** Band left of the first column, for row labels. */
  left?: number;
  /** Band right of the last column, for a legend. */
  right?: number;
  gap?: number;
}

/** Positions of equally sized panels in rows and columns, with bands for titles and a legend. */
export class GridLayout {
  readonly top: number;
  readonly left: number;
  readonly right: number;
  readonly gap: number;

  constructor(
    readonly rows: number,
    readonly columns: number,
    readonly panelWidth: number,
    readonly panelHeight: number,
    margins: GridMargins = {},
  ) {
    this.top = margins.top ?? 28;
    this.left = margins.left ?? 8;
    this.right = margins.right ?? 0;
    this.gap = margins.gap ?? 8;
  }

  /** Top-left corner of panel (row, column). */
  cell(row: number, column: number): { left: number; top: number } {
    return { left: this.left + column * (this.panelWidth + this.gap), top: this.top + row * (this.panelHeight + this.gap) };
  }

  get width(): number {
    return this.left + this.columns * (this.panelWidth + this.gap) + this.right;
  }

  get height(): number {
    return this.top + this.rows * (this.panelHeight + this.gap);
  }

  /** Integer upscaling that makes an image of this size at least `minSide` pixels on its longer side. */
  static scaleFor(height: number, width: number, minSide: number): number {
    return Math.max(1, Math.ceil(minSide / Math.max(height, width)));
  }
}
