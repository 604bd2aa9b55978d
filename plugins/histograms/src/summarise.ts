import type { Histogram } from '@bt-platform/sdk';

export interface Summary {
  histogram: Histogram;
  /** L2 norm of every value, NaN if any value is not finite. */
  norm: number;
  /** Values left out of the histogram because they are NaN or ±Infinity. */
  nonFinite: number;
}

/**
 * `bins` equal-width bins between the smallest and the largest finite value, numpy's
 * `np.histogram(values, bins)` semantics (the last bin is closed; constant values get the
 * range value ± 0.5), which is also what wandb's histograms are computed with.
 */
export function summarise(values: ArrayLike<number>, bins: number): Summary {
  let min = Infinity;
  let max = -Infinity;
  let squares = 0;
  let nonFinite = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) {
      nonFinite++;
      continue;
    }
    if (v < min) min = v;
    if (v > max) max = v;
    squares += v * v;
  }
  if (min > max) {
    min = 0;
    max = 1;
  } else if (min === max) {
    min -= 0.5;
    max += 0.5;
  }
  // As numpy.linspace computes them, so that edges match numpy's to the last bit.
  const step = (max - min) / bins;
  const edges = Array.from({ length: bins + 1 }, (_, i) => i * step + min);
  edges[bins] = max;
  const counts = new Array<number>(bins).fill(0);
  const scale = bins / (max - min);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) continue;
    let k = Math.floor((v - min) * scale);
    if (k >= bins) k = bins - 1;
    // Rounding can put a value one bin off its edges; numpy compares against the edges themselves.
    if (k > 0 && v < edges[k]) k--;
    else if (k < bins - 1 && v >= edges[k + 1]) k++;
    counts[k]++;
  }
  return { histogram: { edges, counts }, norm: nonFinite ? NaN : Math.sqrt(squares), nonFinite };
}
