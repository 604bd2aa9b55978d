import { definePlugin, Slots, Stage, z, type Callback, type HookView, type RunContext } from '@bt-platform/sdk';

const PLUGIN_NAME = 'progress';

const progressOptions = z.strictObject({
  /** `auto`: bars on a terminal, one line per epoch otherwise (CI logs, pipes). */
  style: z.enum(['auto', 'bar', 'lines', 'off']).default('auto'),
  /** Metrics shown after each epoch; by default every val/* metric and the epoch loss. */
  metrics: z.array(z.string()).optional(),
});

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
  private bar?: import('cli-progress').SingleBar;
  private epochStart = 0;
  private samples = 0;
  private maxEpochs = 1;

  constructor(
    private readonly options: z.output<typeof progressOptions>,
    private readonly ctx: RunContext,
  ) {}

  private get useBar(): boolean {
    return this.options.style === 'bar' || (this.options.style === 'auto' && Boolean(process.stderr.isTTY) && !process.env.CI);
  }

  async apply(hooks: HookView): Promise<void> {
    if (this.options.style === 'off') return;
    const cliProgress = this.useBar ? await import('cli-progress') : undefined;
    const tap = { name: PLUGIN_NAME, stage: Stage.logging };
    hooks.fitStart.tapPromise(tap, async (event) => {
      this.maxEpochs = event.maxEpochs;
    });
    hooks.trainEpochStart.tapPromise(tap, async (event) => {
      this.epochStart = performance.now();
      this.samples = 0;
      if (cliProgress) {
        this.bar = new cliProgress.SingleBar(
          {
            format: `epoch ${event.epoch + 1}/${this.maxEpochs} {bar} {value}/{total} | loss {loss} | {speed} img/s | ETA {eta_formatted}`,
            hideCursor: true,
            clearOnComplete: false,
            stream: process.stderr,
            etaBuffer: 20,
          },
          cliProgress.Presets.shades_classic,
        );
        this.bar.start(event.batches, 0, { loss: '-', speed: '-' });
      }
    });
    hooks.trainBatchEnd.tapPromise(tap, async (event) => {
      const first = Object.values(event.batch)[0];
      this.samples += first?.shape[0] ?? 0;
      const elapsed = (performance.now() - this.epochStart) / 1000;
      this.bar?.increment(1, { loss: fmt(event.loss), speed: (this.samples / elapsed).toFixed(1) });
    });
    hooks.trainEpochEnd.tapPromise(tap, async () => {
      this.bar?.stop();
      this.bar = undefined;
    });
    hooks.shouldStop.tap(tap, (event) => {
      const elapsed = (performance.now() - this.epochStart) / 1000;
      const keys = this.options.metrics ?? Object.keys(event.metrics).filter((k) => k.startsWith('val/') || k === 'train/loss_epoch').sort();
      const shown = keys.filter((k) => event.metrics[k] !== undefined).map((k) => `${k}=${fmt(event.metrics[k])}`);
      const speed = this.samples ? ` | ${(this.samples / elapsed).toFixed(1)} img/s` : '';
      const eta = seconds(elapsed * (this.maxEpochs - event.epoch - 1));
      this.ctx.log.info(`epoch ${event.epoch + 1}/${this.maxEpochs} ${seconds(elapsed)}${speed} | ${shown.join(' ')} | ETA ${eta}`);
      return undefined;
    });
    hooks.fitEnd.tapPromise(tap, async () => {
      this.bar?.stop();
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
      create: (o, ctx) => new ProgressBar(o, ctx),
    });
  },
});
