import { Slots, Stage, type Callback, type GradientsEvent, type Histogram, type HookView, type RunContext } from '@bt-platform/sdk';
import { summarise } from './summarise.js';

export interface HistogramsOptions {
  everyNSteps: number;
  bins: number;
  which: 'parameters' | 'gradients' | 'both';
}

interface Pending {
  histograms: Record<string, Histogram>;
  metrics: Record<string, number>;
}

const NAME = 'histograms';

/**
 * The reference's `wandb.watch`: every `everyNSteps` optimizer steps, a histogram of each parameter
 * tensor's values and gradients, and the gradients' L2 norms as metrics (`grad_norm/<name>`,
 * `grad_norm/total`; `param_norm/…` for the values). Gradients live only during `afterBackward`,
 * which is synchronous, so they are read back there and handed to the loggers at batch end.
 */
export class HistogramsCallback implements Callback {
  private pending?: Pending;

  constructor(
    private readonly options: HistogramsOptions,
    private readonly ctx: RunContext,
  ) {}

  async apply(hooks: HookView): Promise<void> {
    const task = await this.ctx.get(Slots.task);
    const tap = { name: NAME, stage: Stage.logging };
    hooks.afterBackward.tap(tap, (event) => {
      if (event.globalStep % this.options.everyNSteps !== 0) return;
      const parameters = this.options.which === 'gradients' ? [] : task.model.namedParameters();
      this.pending = this.summarise(event, parameters);
    });
    hooks.trainBatchEnd.tapPromise(tap, async () => {
      const pending = this.pending;
      if (!pending) return;
      this.pending = undefined;
      await this.ctx.logMetrics(pending.metrics);
      await this.ctx.logHistograms(pending.histograms);
    });
  }

  /** Reads back and bins every tensor now, while the gradients are alive. */
  summarise(event: Pick<GradientsEvent, 'grads'>, parameters: Array<[string, { dataSync(): ArrayLike<number> }]>): Pending {
    const { bins, which } = this.options;
    const histograms: Record<string, Histogram> = {};
    const metrics: Record<string, number> = {};
    if (which !== 'gradients') {
      let total = 0;
      for (const [name, variable] of parameters) {
        const s = summarise(variable.dataSync(), bins);
        histograms[`parameters/${name}`] = s.histogram;
        metrics[`param_norm/${name}`] = s.norm;
        total += s.norm * s.norm;
      }
      if (parameters.length) metrics['param_norm/total'] = Math.sqrt(total);
    }
    if (which !== 'parameters') {
      let total = 0;
      const grads = Object.entries(event.grads);
      for (const [name, grad] of grads) {
        const s = summarise(grad.dataSync(), bins);
        histograms[`gradients/${name}`] = s.histogram;
        metrics[`grad_norm/${name}`] = s.norm;
        total += s.norm * s.norm;
      }
      if (grads.length) metrics['grad_norm/total'] = Math.sqrt(total);
    }
    return { histograms, metrics };
  }
}
