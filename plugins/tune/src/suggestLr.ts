/** numpy.gradient of evenly spaced samples: central differences inside, one-sided at the ends. */
export function gradient(values: readonly number[]): number[] {
  const n = values.length;
  if (n < 2) return values.map(() => 0);
  return values.map((_, i) => (i === 0 ? values[1] - values[0] : i === n - 1 ? values[n - 1] - values[n - 2] : (values[i + 1] - values[i - 1]) / 2));
}

/**
 * The learning rate at the steepest descent of the smoothed loss (as Lightning's `suggestion()`):
 * the minimum of its gradient over the steps (evenly spaced in log LR), leaving out the first
 * `skipBegin` and the last `skipEnd` points. Undefined when too few points remain.
 */
export function suggestLr(lrs: readonly number[], smoothed: readonly number[], skipBegin = 10, skipEnd = 1): { lr: number; index: number } | undefined {
  const end = smoothed.length - skipEnd;
  if (end - skipBegin < 2) return undefined;
  const slope = gradient(smoothed.slice(skipBegin, end));
  let best = 0;
  for (let i = 1; i < slope.length; i++) if (slope[i] < slope[best]) best = i;
  if (!Number.isFinite(slope[best])) return undefined;
  return { lr: lrs[skipBegin + best], index: skipBegin + best };
}
