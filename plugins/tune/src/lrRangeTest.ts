import type { RunSession } from '@bt-platform/sdk';
import { prepareTuning } from './prepareTuning.js';
import { suggestLr } from './suggestLr.js';

export interface LrRangeOptions {
  minLr: number;
  maxLr: number;
  steps: number;
  /** Stop once the smoothed loss exceeds this many times the best one. */
  divergeThreshold: number;
  /** EMA factor of the loss smoothing. */
  beta: number;
  skipBegin: number;
  skipEnd: number;
}

export interface LrRangeResult {
  lrs: number[];
  losses: number[];
  smoothed: number[];
  /** Why the test ended before `steps`, if it did. */
  stopped?: string;
  suggestion?: { lr: number; index: number };
}

/**
 * The learning-rate range test (Smith 2015; fastai's and Lightning's `lr_find`): train with a learning
 * rate growing exponentially from `minLr` to `maxLr` over `steps` batches, smooth the loss with a
 * bias-corrected EMA, stop once it diverges, and suggest the LR of steepest descent.
 */
export async function lrRangeTest(session: RunSession, options: LrRangeOptions, onStep?: (step: number, lr: number, smoothed: number) => void): Promise<LrRangeResult> {
  const { minLr, maxLr, steps, beta } = options;
  const { step, source } = await prepareTuning(session);
  const result: LrRangeResult = { lrs: [], losses: [], smoothed: [] };
  let average = 0;
  let best = Infinity;
  try {
    for (let i = 0; i < steps; i++) {
      const lr = minLr * (maxLr / minLr) ** (steps > 1 ? i / (steps - 1) : 0);
      const batch = await source.nextBatch();
      let loss: number;
      try {
        loss = step.run(batch, lr);
      } finally {
        for (const t of Object.values(batch)) t.dispose();
      }
      average = beta * average + (1 - beta) * loss;
      const smoothed = average / (1 - beta ** (i + 1));
      result.lrs.push(lr);
      result.losses.push(loss);
      result.smoothed.push(smoothed);
      onStep?.(i, lr, smoothed);
      if (!Number.isFinite(smoothed)) {
        result.stopped = `the loss became ${loss} at lr ${lr.toExponential(2)}`;
        break;
      }
      if (i > 0 && smoothed > options.divergeThreshold * best) {
        result.stopped = `the loss diverged (more than ${options.divergeThreshold}× its best) at lr ${lr.toExponential(2)}`;
        break;
      }
      best = Math.min(best, smoothed);
    }
  } finally {
    await source.dispose();
  }
  // Non-finite points (a diverged last step) say nothing about the slope.
  const finite = result.smoothed.findIndex((v) => !Number.isFinite(v));
  const upTo = finite < 0 ? result.smoothed.length : finite;
  result.suggestion = suggestLr(result.lrs.slice(0, upTo), result.smoothed.slice(0, upTo), options.skipBegin, options.skipEnd);
  return result;
}
