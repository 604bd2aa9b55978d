import { definePlugin, Slots, Stage, z, type Callback, type HookView, type RunContext } from '@bt-platform/sdk';
import { epochMetrics } from './epochMetrics.js';

const PLUGIN_NAME = 'progress';

const progressOptions = z.strictObject({
  style: z.enum(['auto', 'bar', 'lines', 'off']).default('auto').describe('auto: bars on a terminal, one line per epoch otherwise (CI logs, pipes); bar: bars everywhere; lines: epoch lines only.'),
  metrics: z
    .array(z.string())
    .optional()
    .describe('Metrics of the epoch line, e.g. [train/loss, val/mIoU, val/IoU/*]; train/loss shows the epoch mean. Default: every val/ scalar and the epoch loss.'),
});

type Bar = import('cli-progress').SingleBar;

function fmt(value: number): string {
  return Math.abs(value) >= 1000 || (Math.abs(value) < 1e-3 && value !== 0) ? value.toExponential(2) : value.toFixed(4);
}

function seconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const m = Math.floor(s / 60);
  return m ? `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${s.toFixed(1)}s`;
}

/** Epoch and step progress with loss, throughput and ETA; plain lines when stderr is not a terminal. */
class ProgressBar implements Callback {
  private bar?: Bar;
  private epochStart = 0;
  private samples = 0;
  private maxEpochs = 1;
  /** Requested metrics no epoch has logged so far, reported once at the end. */
  private neverSeen = new Set<string>();
  private logged = new Set<string>();

  constructor(
    private readonly options: z.output<typeof progressOptions>,
    private readonly ctx: RunContext,
  ) {
    this.neverSeen = new Set(options.metrics ?? []);
  }

  private get useBar(): boolean {
    return this.options.style === 'bar' || (this.options.style === 'auto' && Boolean(process.stderr.isTTY) && !process.env.CI);
  }

  async apply(hooks: HookView): Promise<void> {
    if (this.options.style === 'off') return;
    const cliProgress = this.useBar ? await import('cli-progress') : undefined;
    const startBar = (format: string, total: number, payload: Record<string, string>) => {
      if (!cliProgress) return;
      this.bar?.stop();
      this.bar = new cliProgress.SingleBar(
        // Asked for explicitly, bars are drawn off a terminal too (a line per update).
        { format, hideCursor: true, clearOnComplete: false, stream: process.stderr, etaBuffer: 20, noTTYOutput: this.options.style === 'bar' },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(total, 0, payload);
    };
    const stopBar = async () => {
      this.bar?.stop();
      this.bar = undefined;
    };
    const tap = { name: PLUGIN_NAME, stage: Stage.logging };
    hooks.fitStart.tapPromise(tap, async (event) => {
      this.maxEpochs = event.maxEpochs;
    });
    hooks.trainEpochStart.tapPromise(tap, async (event) => {
      this.epochStart = performance.now();
      this.samples = 0;
      startBar(`epoch ${event.epoch + 1}/${this.maxEpochs} {bar} {value}/{total} | loss {loss} | {speed} img/s | ETA {eta_formatted}`, event.batches, { loss: '-', speed: '-' });
    });
    hooks.trainBatchEnd.tapPromise(tap, async (event) => {
      const first = Object.values(event.batch)[0];
      this.samples += first?.shape[0] ?? 0;
      const elapsed = (performance.now() - this.epochStart) / 1000;
      this.bar?.increment(1, { loss: fmt(event.loss), speed: (this.samples / elapsed).toFixed(1) });
    });
    hooks.trainEpochEnd.tapPromise(tap, stopBar);
    for (const [start, batchEnd, end, label] of [
      [hooks.validationStart, hooks.validationBatchEnd, hooks.validationEnd, 'validate'],
      [hooks.testStart, hooks.testBatchEnd, hooks.testEnd, 'test'],
    ] as const) {
      start.tapPromise(tap, async (event) => startBar(`${label} ${event.batches ? '{bar} {value}/{total} | ' : ''}loss {loss} | ETA {eta_formatted}`, event.batches, { loss: '-' }));
      batchEnd.tapPromise(tap, async (event) => {
        this.bar?.increment(1, { loss: fmt(event.loss) });
      });
      end.tapPromise(tap, stopBar);
    }
    hooks.shouldStop.tap(tap, (event) => {
      const elapsed = (performance.now() - this.epochStart) / 1000;
      const { shown, unmatched } = epochMetrics(event.metrics, this.options.metrics);
      for (const key of [...this.neverSeen]) if (!unmatched.includes(key)) this.neverSeen.delete(key);
      for (const key of Object.keys(event.metrics)) this.logged.add(key);
      const speed = this.samples ? ` | ${(this.samples / elapsed).toFixed(1)} img/s` : '';
      const eta = seconds(elapsed * (this.maxEpochs - event.epoch - 1));
      this.ctx.log.info(`epoch ${event.epoch + 1}/${this.maxEpochs} ${seconds(elapsed)}${speed} | ${shown.map(([k, v]) => `${k}=${fmt(v)}`).join(' ')} | ETA ${eta}`);
      return undefined;
    });
    hooks.fitEnd.tapPromise(tap, async () => {
      await stopBar();
      if (this.neverSeen.size && this.logged.size) {
        this.ctx.log.warn(`progress: metrics ${[...this.neverSeen].join(', ')} were never logged at an epoch's end; logged: ${[...this.logged].sort().join(', ')}.`);
      }
    });
  }
}

export default definePlugin({
  name: PLUGIN_NAME,
  description: 'Progress bars (epoch, step, loss, images/s, ETA); one line per epoch when not on a terminal.',
  register(registrar) {
    registrar.component(Slots.callback, {
      name: 'progress',
      description: 'Progress bars on a terminal, epoch lines elsewhere.',
      options: progressOptions,
      // A name the epochs do not publish is only missing from the epoch line: a warning.
      declares: (o) => ({
        reads: (o.metrics ?? []).map((metric, i) => ({ option: `metrics.${i}`, metric, alternatives: [`${metric}_epoch`], at: 'epoch', severity: 'warning' })),
      }),
      create: (o, ctx) => new ProgressBar(o, ctx),
    });
  },
});
