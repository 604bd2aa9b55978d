import { z, type LrSchedule, type ScheduleContext } from '@bt-platform/sdk';
import { scheduleProgress } from './scheduleProgress.js';

export const warmupCosineOptions = z.strictObject({
  warmupEpochs: z.number().nonnegative().default(0).describe('Linear warm-up length in epochs (fractions allowed); ignored when `warmupSteps` is set.'),
  warmupSteps: z.number().int().nonnegative().optional().describe('Linear warm-up length in optimizer steps (wins over warmupEpochs).'),
  warmupStartLr: z.number().nonnegative().default(0).describe('The LR the warm-up starts from.'),
  minLr: z.number().nonnegative().default(0).describe('The LR the cosine ends at.'),
  interval: z.enum(['step', 'epoch']).default('step').describe('Update the LR every optimizer step, or once per epoch (as Lightning\'s LinearWarmupCosineAnnealingLR).'),
});

export type WarmupCosineOptions = z.output<typeof warmupCosineOptions>;

/**
 * Linear warm-up from `warmupStartLr` to the base LR, then a half cosine down to `minLr` at the end
 * of training (`maxSteps`, or `maxEpochs` × steps per epoch). With `interval: step`, step t of a
 * W-step warm-up uses start + (base − start)·(t + 1)/W, so the first update is not wasted at LR 0.
 */
export class WarmupCosine implements LrSchedule {
  constructor(private readonly options: WarmupCosineOptions) {}

  lr(baseLr: number, at: ScheduleContext): number {
    const { warmupStartLr, minLr, interval } = this.options;
    const { position, total, warmup } = scheduleProgress(at, interval, this.options.warmupEpochs, this.options.warmupSteps);
    if (position < warmup) {
      const fraction = interval === 'step' ? (position + 1) / warmup : position / warmup;
      return warmupStartLr + (baseLr - warmupStartLr) * fraction;
    }
    const span = Math.max(1, total - warmup);
    const progress = Math.min(1, Math.max(0, (position - warmup) / span));
    return minLr + 0.5 * (baseLr - minLr) * (1 + Math.cos(Math.PI * progress));
  }
}
