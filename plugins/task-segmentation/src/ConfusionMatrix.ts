/**
 * A [C, C] confusion matrix (rows: ground truth, columns: prediction) accumulated over an epoch,
 * and the metrics derived from it. Void pixels are never counted. A class absent from both the
 * labels and the predictions has no defined IoU, precision, recall or F1: it is left out of the
 * macro means and of the per-class keys (as torchmetrics' JaccardIndex with absent classes
 * ignored and sklearn's average over present labels). For a present class, a 0/0 ratio (never
 * predicted: precision; never labelled: recall) counts as 0. Weighted means weight each class by
 * its labelled pixels.
 */
export class ConfusionMatrix {
  private counts: Float64Array;

  constructor(readonly numClasses: number) {
    this.counts = new Float64Array(numClasses * numClasses);
  }

  /** Adds predicted and true labels of the same pixels; labels outside [0, C) (void) are skipped. */
  add(truth: ArrayLike<number>, predicted: ArrayLike<number>): void {
    const c = this.numClasses;
    for (let i = 0; i < truth.length; i++) {
      const t = truth[i];
      const p = predicted[i];
      if (t >= 0 && t < c && p >= 0 && p < c) this.counts[t * c + p]++;
    }
  }

  get total(): number {
    return this.counts.reduce((a, b) => a + b, 0);
  }

  /** The counts as rows of ground truth. */
  matrix(): number[][] {
    const c = this.numClasses;
    return Array.from({ length: c }, (_, i) => Array.from(this.counts.subarray(i * c, (i + 1) * c)));
  }

  reset(): void {
    this.counts = new Float64Array(this.numClasses * this.numClasses);
  }

  /** accuracy, mIoU, IoU/<class>, precision, recall, f1 (macro) and their `Weighted` variants. */
  metrics(classNames?: readonly string[]): Record<string, number> {
    const c = this.numClasses;
    const total = this.total;
    if (total === 0) return {};
    const ratio = (a: number, b: number) => (b > 0 ? a / b : 0);
    const out: Record<string, number> = {};
    let trace = 0;
    const macro = { iou: 0, precision: 0, recall: 0, f1: 0 };
    const weighted = { precision: 0, recall: 0, f1: 0 };
    let present = 0;
    for (let k = 0; k < c; k++) {
      let row = 0;
      let col = 0;
      for (let j = 0; j < c; j++) {
        row += this.counts[k * c + j];
        col += this.counts[j * c + k];
      }
      const tp = this.counts[k * c + k];
      const fp = col - tp;
      const fn = row - tp;
      trace += tp;
      if (tp + fp + fn === 0) continue;
      present++;
      const iou = ratio(tp, tp + fp + fn);
      const precision = ratio(tp, tp + fp);
      const recall = ratio(tp, tp + fn);
      const f1 = ratio(2 * tp, 2 * tp + fp + fn);
      out[`IoU/${classNames?.[k] ?? k}`] = iou;
      macro.iou += iou;
      macro.precision += precision;
      macro.recall += recall;
      macro.f1 += f1;
      const w = row / total;
      weighted.precision += w * precision;
      weighted.recall += w * recall;
      weighted.f1 += w * f1;
    }
    return {
      accuracy: trace / total,
      mIoU: macro.iou / present,
      precision: macro.precision / present,
      recall: macro.recall / present,
      f1: macro.f1 / present,
      precisionWeighted: weighted.precision,
      recallWeighted: weighted.recall,
      f1Weighted: weighted.f1,
      ...out,
    };
  }
}
