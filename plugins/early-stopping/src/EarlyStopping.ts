import { ConfigError, Stage, type Callback, type HookView, type RunContext } from '@bt-platform/sdk';

export interface EarlyStoppingOptions {
  monitor: string;
  mode: 'min' | 'max';
  patience: number;
  minDelta: number;
  checkOn: 'validation' | 'trainEpoch';
  /** Stop at once when the monitored value is NaN or infinite. */
  checkFinite: boolean;
  /** Stop as soon as the value is better than this. */
  stoppingThreshold?: number;
  /** Stop as soon as the value is worse than this. */
  divergenceThreshold?: number;
}

interface EarlyStoppingState {
  best: number | null;
  wait: number;
}

const NAME = 'early-stopping';

/**
 * Stops training when `monitor` has not improved by more than `minDelta` for `patience`
 * consecutive checks. It tracks the value where the metric is produced (end of validation, or of
 * the training epoch) and answers the `shouldStop` decision last, after checkpoints are written.
 * Its counters go into checkpoints, so a resumed run keeps its patience.
 */
export class EarlyStopping implements Callback {
  best: number | undefined;
  wait = 0;
  private reason: string | undefined;

  constructor(
    private readonly options: EarlyStoppingOptions,
    private readonly ctx: RunContext,
  ) {}

  apply(hooks: HookView): void {
    const tap = { name: NAME, stage: Stage.earlyStop };
    if (this.options.checkOn === 'validation') {
      hooks.validationEnd.tapPromise(tap, async (event) => {
        if (event.stage === 'val') this.check(event.metrics, event.stage);
      });
    } else {
      hooks.trainEpochEnd.tapPromise(tap, async (event) => this.check(event.metrics, 'train'));
    }
    hooks.shouldStop.tap(tap, () => {
      const reason = this.reason;
      this.reason = undefined;
      return reason;
    });
    hooks.saveCheckpoint.tapPromise(tap, async (state) => {
      const own: EarlyStoppingState = { best: this.best ?? null, wait: this.wait };
      return { ...state, plugins: { ...state.plugins, [NAME]: own } };
    });
    hooks.loadCheckpoint.tapPromise(tap, async (state) => {
      const own = state.plugins[NAME] as EarlyStoppingState | undefined;
      if (!own) return;
      this.best = own.best ?? undefined;
      this.wait = own.wait;
    });
  }

  /** Updates the counters with this check's metrics; remembers a reason to stop if there is one. */
  check(metrics: Record<string, number>, stage: string): void {
    const value = EarlyStopping.lookup(metrics, this.options.monitor, stage);
    const { monitor, mode, patience, minDelta, stoppingThreshold, divergenceThreshold } = this.options;
    const better = (a: number, b: number) => (mode === 'min' ? a < b - minDelta : a > b + minDelta);
    if (!Number.isFinite(value)) {
      if (this.options.checkFinite) this.reason = `${monitor} = ${value} is not finite`;
      return;
    }
    if (stoppingThreshold !== undefined && (mode === 'min' ? value < stoppingThreshold : value > stoppingThreshold)) {
      this.reason = `${monitor} = ${value} reached the stopping threshold ${stoppingThreshold}`;
    } else if (divergenceThreshold !== undefined && (mode === 'min' ? value > divergenceThreshold : value < divergenceThreshold)) {
      this.reason = `${monitor} = ${value} is past the divergence threshold ${divergenceThreshold}`;
    }
    if (this.best === undefined || better(value, this.best)) {
      this.best = value;
      this.wait = 0;
    } else {
      this.wait++;
      if (this.wait >= patience) {
        this.reason ??= `${monitor} did not improve by more than ${minDelta} for ${this.wait} checks (best ${this.best}, now ${value})`;
      }
    }
    this.ctx.log.debug(`${NAME}: ${monitor} = ${value}, best ${this.best}, wait ${this.wait}/${patience}`);
  }

  /** Finds `monitor` whether the event's keys carry the stage prefix (`val/mIoU`) or not (`mIoU`). */
  static lookup(metrics: Record<string, number>, monitor: string, stage: string): number {
    if (monitor in metrics) return metrics[monitor];
    const prefix = `${stage}/`;
    if (monitor.startsWith(prefix) && monitor.slice(prefix.length) in metrics) return metrics[monitor.slice(prefix.length)];
    const available = Object.keys(metrics).map((k) => (k.includes('/') ? k : `${prefix}${k}`));
    throw new ConfigError('CONFIG_INVALID', `early-stopping monitors "${monitor}", which the ${stage} metrics do not contain. Available: ${available.join(', ') || '(none)'}.`, {
      hint: `Set callbacks[{ use: 'early-stopping' }].monitor to one of the available keys${available[0] ? `, e.g. "${available[0]}"` : ''}.`,
    });
  }
}
