import { z, type LrSchedule } from '@bt-platform/sdk';
import { scheduleProgress } from './scheduleProgress.js';

export const constantScheduleOptions = z.strictObject({
  /** Optional linear warm-up (in steps) before the constant LR. */
  warmupSteps: z.number().int().nonnegative().default(0),
});

/** The base LR throughout, after an optional linear warm-up. */
export class ConstantSchedule implements LrSchedule {
  constructor(private readonly options: z.output<typeof constantScheduleOptions>) {}

  lr(baseLr: number, at: Parameters<LrSchedule['lr']>[1]): number {
    const { position, warmup } = scheduleProgress(at, 'step', 0, this.options.warmupSteps);
    return position < warmup ? (baseLr * (position + 1)) / warmup : baseLr;
  }
}
