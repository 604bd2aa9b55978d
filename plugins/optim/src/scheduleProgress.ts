import type { ScheduleContext } from '@bt-platform/sdk';

/** Where training is, in steps or epochs, with the run's total and the warm-up length in the same unit. */
export function scheduleProgress(
  at: ScheduleContext,
  interval: 'step' | 'epoch',
  warmupEpochs: number,
  warmupSteps: number | undefined,
): { position: number; total: number; warmup: number } {
  const perEpoch = Math.max(1, at.stepsPerEpoch);
  // The trainer passes Infinity (or 0) when only maxEpochs bounds the run.
  const maxSteps = Number.isFinite(at.maxSteps) && at.maxSteps > 0 ? at.maxSteps : 0;
  const epochSteps = Number.isFinite(at.maxEpochs) && at.maxEpochs > 0 ? at.maxEpochs * perEpoch : Infinity;
  // Training ends at whichever bound comes first.
  const totalSteps = Math.min(maxSteps > 0 ? maxSteps : Infinity, epochSteps);
  if (interval === 'epoch') {
    const total = Math.ceil(totalSteps / perEpoch);
    const warmup = warmupSteps !== undefined ? warmupSteps / perEpoch : warmupEpochs;
    return { position: at.epoch, total, warmup };
  }
  const total = totalSteps;
  const warmup = warmupSteps ?? Math.round(warmupEpochs * perEpoch);
  return { position: at.step, total, warmup };
}
