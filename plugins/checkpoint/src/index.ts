import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { BtError, ConfigError, definePlugin, isBtError, Slots, Stage, writeCheckpoint, z, type Callback, type HookView, type RunContext } from '@bt-platform/sdk';

const PLUGIN_NAME = 'checkpoint';

const options = z.strictObject({
  /** Directory inside the run directory. */
  dir: z.string().default('checkpoints'),
  /** Metric that ranks checkpoints, e.g. `val/loss` or `val/mIoU`; without it only `last` is kept. */
  monitor: z.string().optional(),
  mode: z.enum(['min', 'max']).default('min'),
  /** How many of the best checkpoints to keep. */
  topK: z.number().int().nonnegative().default(1),
  saveLast: z.boolean().default(true),
  everyNEpochs: z.number().int().positive().default(1),
});

type Options = z.output<typeof options>;

interface Kept {
  file: string;
  score: number;
  epoch: number;
  step: number;
}

/**
 * Writes checkpoints (atomically, through the SDK) after each epoch's validation — or after the
 * epoch when it has none — keeps the top-k by a monitored metric plus `last`, and writes `last`
 * when a run is interrupted so that `--resume` continues it.
 */
class ModelCheckpoint implements Callback {
  private best: Kept[] = [];
  private last?: string;
  private validated = false;
  private readonly dir: string;

  constructor(
    private readonly options: Options,
    private readonly ctx: RunContext,
  ) {
    this.dir = path.join(ctx.runDir, options.dir);
  }

  apply(hooks: HookView): void {
    const tap = { name: PLUGIN_NAME, stage: Stage.checkpoint };
    hooks.trainEpochStart.tapPromise(tap, async () => {
      this.validated = false;
    });
    hooks.validationEnd.tapPromise(tap, async (event) => {
      if (event.stage !== 'val') return;
      this.validated = true;
      await this.onEpochDone(event.epoch, event.globalStep, event.metrics);
    });
    hooks.trainEpochEnd.tapPromise({ ...tap, stage: Stage.checkpoint + 1 }, async (event) => {
      // Epochs without validation are checkpointed here; the others after their validation.
      const { maxEpochs, valEveryNEpochs } = this.ctx.config.trainer as { maxEpochs: number; valEveryNEpochs: number };
      const validates = (event.epoch + 1) % valEveryNEpochs === 0 || event.epoch + 1 === maxEpochs;
      if (!validates) await this.onEpochDone(event.epoch, event.globalStep, event.metrics);
    });
    hooks.fitEnd.tapPromise(tap, async (event) => {
      if (event.status === 'interrupted' || !this.last) await this.save('last', event.epoch, event.globalStep);
      this.ctx.setSummary('lastCheckpoint', this.last ?? '');
      if (this.best.length) this.ctx.setSummary('bestCheckpoint', this.best[0].file);
      this.ctx.setSummary('checkpoint', this.best[0]?.file ?? this.last ?? '');
      if (this.best.length) this.ctx.log.info(`best checkpoint: ${this.best[0].file} (${this.options.monitor}=${this.best[0].score.toPrecision(4)})`);
    });
    hooks.saveCheckpoint.tapPromise(tap, async (state) => ({ ...state, plugins: { ...state.plugins, [PLUGIN_NAME]: { best: this.best } } }));
    hooks.loadCheckpoint.tapPromise(tap, async (state) => {
      const saved = state.plugins[PLUGIN_NAME] as { best?: Kept[] } | undefined;
      // Keep ranking the files of the resumed run only if they still exist.
      this.best = (saved?.best ?? []).filter((k) => existsSync(k.file));
    });
  }

  private async onEpochDone(epoch: number, step: number, metrics: Record<string, number>): Promise<void> {
    if ((epoch + 1) % this.options.everyNEpochs !== 0) return;
    if (this.options.saveLast) await this.save('last', epoch, step);
    const { monitor, topK, mode } = this.options;
    if (!monitor || topK === 0) return;
    const score = metrics[monitor];
    if (score === undefined) {
      throw new ConfigError('CONFIG_INVALID', `checkpoint: monitored metric "${monitor}" was not logged at epoch ${epoch}. Logged: ${Object.keys(metrics).sort().join(', ')}.`, {
        hint: 'Set callbacks[].monitor of the checkpoint callback to one of the logged metrics.',
      });
    }
    if (!Number.isFinite(score)) return;
    const better = (a: number, b: number) => (mode === 'min' ? a < b : a > b);
    if (this.best.length >= topK && !better(score, this.best[this.best.length - 1].score)) return;
    const file = await this.save(`epoch=${String(epoch).padStart(3, '0')}-step=${String(step).padStart(6, '0')}`, epoch, step);
    this.best.push({ file, score, epoch, step });
    this.best.sort((a, b) => (better(a.score, b.score) ? -1 : better(b.score, a.score) ? 1 : 0));
    for (const dropped of this.best.splice(topK)) rmSync(dropped.file, { force: true });
  }

  private async save(tag: string, epoch: number, step: number): Promise<string> {
    const file = path.join(this.dir, `${tag}.safetensors`);
    const state = await this.ctx.collectCheckpoint();
    try {
      await writeCheckpoint(file, state);
    } catch (error) {
      throw this.saveError(file, error);
    }
    if (tag === 'last') this.last = file;
    this.ctx.log.debug(`checkpoint ${file} (epoch ${epoch}, step ${step})`);
    return file;
  }

  /** The writer's error (file, cause, disk) plus what survived: a failed write leaves the file's previous version in place. */
  private saveError(file: string, error: unknown): BtError {
    if (!isBtError(error)) return new BtError('RUNTIME', `Cannot write checkpoint ${file}: ${(error as Error).message}`, { cause: error });
    const intact = existsSync(file) ? 'the previous checkpoint in that file is intact' : 'no earlier checkpoint had that name';
    const resume = this.last && existsSync(this.last) ? ` Then continue with --resume ${this.last}.` : '';
    return new BtError(error.code, `${error.message.replace(/\.$/, '')}; ${intact}.`, { hint: `${error.hint ?? ''}${resume}`, cause: error, exitCode: error.exitCode });
  }
}

export default definePlugin({
  name: PLUGIN_NAME,
  description: 'Top-k and last checkpoints (safetensors: model weights in PyTorch layout, optimizer and trainer state), atomic, resumable.',
  register(registrar) {
    registrar.component(Slots.callback, {
      name: 'checkpoint',
      description: 'Keeps the top-k checkpoints by a monitored metric and the last one; saves on Ctrl-C.',
      options,
      declares: (o) => ({
        reads: o.monitor && o.topK > 0 ? [{ option: 'monitor', metric: o.monitor, at: 'validation' }] : [],
        summary: ['checkpoint', 'lastCheckpoint', 'bestCheckpoint'],
      }),
      create: (o, ctx) => new ModelCheckpoint(o, ctx),
    });
  },
});
