import { Stage, type Callback, type HookView, type OptimizerStepEvent, type RunContext } from '@bt-platform/sdk';

export interface LrMonitorOptions {
  loggingInterval: 'step' | 'epoch';
  logEveryNSteps: number;
}

const NAME = 'lr-monitor';

/** Learning rates of each parameter group, if the optimizer step reports groups. */
type GroupedEvent = OptimizerStepEvent & { lrs?: Record<string, number> };

/**
 * Logs the learning rate the optimizer used: after every `logEveryNSteps`-th optimizer step, or
 * once per epoch (the rate of the epoch's first step, which is what the schedule set for it).
 * The optimizer-step hook is synchronous, so the rate is recorded there and logged at batch end.
 */
export class LrMonitor implements Callback {
  private pending: Record<string, number> | undefined;
  private epochRates: Record<string, number> | undefined;
  private steps = 0;

  constructor(
    private readonly options: LrMonitorOptions,
    private readonly ctx: RunContext,
  ) {}

  apply(hooks: HookView): void {
    const tap = { name: NAME, stage: Stage.logging };
    hooks.beforeOptimizerStep.tap(tap, (event) => {
      const rates = LrMonitor.rates(event as GroupedEvent);
      this.steps++;
      if (this.options.loggingInterval === 'step' && (this.steps - 1) % this.options.logEveryNSteps === 0) this.pending = rates;
      this.epochRates ??= rates;
    });
    if (this.options.loggingInterval === 'step') {
      hooks.trainBatchEnd.tapPromise(tap, async () => {
        if (!this.pending) return;
        const values = this.pending;
        this.pending = undefined;
        await this.ctx.logMetrics(values);
      });
    } else {
      hooks.trainEpochStart.tapPromise(tap, async () => {
        this.epochRates = undefined;
      });
      hooks.trainEpochEnd.tapPromise(tap, async () => {
        if (this.epochRates) await this.ctx.logMetrics(this.epochRates);
        this.epochRates = undefined;
      });
    }
  }

  /** `lr`, plus `lr/<group>` for each group when there is more than one. */
  static rates(event: GroupedEvent): Record<string, number> {
    const out: Record<string, number> = { lr: event.lr };
    const groups = Object.entries(event.lrs ?? {});
    if (groups.length > 1) for (const [group, lr] of groups) out[`lr/${group}`] = lr;
    return out;
  }
}
