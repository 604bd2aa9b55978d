import { Stage, type Callback, type HookView, type OptimizerStepEvent, type RunContext } from '@bt-platform/sdk';

export interface LrMonitorOptions {
  loggingInterval: 'step' | 'epoch';
  logEveryNSteps: number;
}

const NAME = 'lr-monitor';

/** Learning rates of each parameter group, if the optimizer step reports groups. */
type GroupedEvent = OptimizerStepEvent & { lrs?: Record<string, number> };

/** Parameter groups as optimizers' configs declare them: patterns and a multiplier of the scheduled rate. */
interface GroupConfig {
  params?: string[];
  lrScale?: number;
}

/**
 * Logs the learning rate the optimizer used: after every `logEveryNSteps`-th optimizer step, or
 * once per epoch (the rate of the epoch's first step, which is what the schedule set for it).
 * The optimizer-step hook is synchronous, so the rate is recorded there and logged at batch end.
 */
export class LrMonitor implements Callback {
  private pending: Record<string, number> | undefined;
  private epochRates: Record<string, number> | undefined;
  private steps = 0;
  private readonly groups: Array<{ key: string; scale: number }>;

  constructor(
    private readonly options: LrMonitorOptions,
    private readonly ctx: RunContext,
  ) {
    const optimizer = ctx.config.optimizer as { groups?: GroupConfig[] } | undefined;
    this.groups = (optimizer?.groups ?? []).map((g, i) => ({ key: `lr/${g.params?.join('|') ?? `group${i}`}`, scale: g.lrScale ?? 1 }));
  }

  apply(hooks: HookView): void {
    const tap = { name: NAME, stage: Stage.logging };
    hooks.beforeOptimizerStep.tap(tap, (event) => {
      const rates = this.rates(event as GroupedEvent);
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

  /**
   * `lr`, plus `lr/<group>` per parameter group: as the step reports them, else from the
   * optimizer config's `groups` (the scheduled rate times each group's `lrScale`).
   */
  rates(event: GroupedEvent): Record<string, number> {
    const out: Record<string, number> = { lr: event.lr };
    const reported = Object.entries(event.lrs ?? {});
    if (reported.length > 1) for (const [group, lr] of reported) out[`lr/${group}`] = lr;
    else for (const group of this.groups) out[group.key] = event.lr * group.scale;
    return out;
  }
}
