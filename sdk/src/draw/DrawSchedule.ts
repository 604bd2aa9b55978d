import type { HookView } from '../hooks.js';
import { Stage } from '../stage.js';

/**
 * The epochs a visualisation draws: every n-th, counted from the first, and always the last epoch
 * of a fit, so the final model is drawn even when the count does not land on it. The last epoch is
 * known from `maxEpochs` at fit start, or at the start of an epoch whose batches may reach
 * `maxSteps`. Outside a fit (validate, test) only the every-n-th rule applies. An early stop is not
 * known in advance: that epoch is drawn only if it is due.
 */
export class DrawSchedule {
  private lastEpoch = Infinity;
  private maxSteps = Infinity;

  constructor(readonly everyNEpochs: number) {}

  /** Taps ahead of the visualisations, so the last epoch is known when they ask. */
  apply(hooks: HookView, name: string): void {
    const tap = { name, stage: Stage.visualisation - 1 };
    hooks.fitStart.tapPromise(tap, async (event) => {
      this.lastEpoch = event.maxEpochs - 1;
      this.maxSteps = event.maxSteps;
    });
    hooks.trainEpochStart.tapPromise(tap, async (event) => {
      if (event.globalStep + event.batches >= this.maxSteps) this.lastEpoch = event.epoch;
    });
  }

  due(epoch: number): boolean {
    return epoch % this.everyNEpochs === 0 || epoch === this.lastEpoch;
  }
}
