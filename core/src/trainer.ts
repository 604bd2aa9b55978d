import * as tf from '@tensorflow/tfjs';
import {
  BtError,
  ConfigError,
  MODEL_PREFIX,
  OPTIMIZER_PREFIX,
  tensorsWithPrefix,
  type Batch,
  type BatchStream,
  type CheckpointState,
  type DataModule,
  type FitStatus,
  type LifecycleHooks,
  type LrSchedule,
  type NamedTensors,
  type Optimizer,
  type Rng,
  Slots,
  Stage,
  type StepOutput,
  type Task,
  type TrainerState,
} from '@bt-platform/sdk';
import type { TrainerOptions } from './config/schema.js';
import { GradientSums } from './gradientSums.js';

export interface TrainerParts {
  hooks: LifecycleHooks;
  task: Task;
  datamodule: DataModule;
  optimizer?: Optimizer;
  schedule?: LrSchedule;
  options: TrainerOptions;
  rng: Rng;
  /** Sends metrics to the run directory and the `metrics` hook. */
  publishMetrics(values: Record<string, number>): Promise<void>;
  /** Keep accumulated gradients in host memory, out of a capped tensor heap (GradientSums). */
  gradientSumsOnHost?: boolean;
}

export interface FitResult {
  status: FitStatus;
  reason?: string;
  metrics: Record<string, number>;
}

interface StepValues {
  loss: tf.Scalar;
  logs: Record<string, tf.Scalar>;
  outputs: NamedTensors;
}

function disposeAll(...groups: Array<NamedTensors | Record<string, tf.Tensor> | undefined>): void {
  for (const group of groups) if (group) tf.dispose(Object.values(group));
}

/** Where the current epoch stands: training its batches, trained with its validation still due, or finished. */
type EpochPhase = 'training' | 'validating' | 'done';

/**
 * The trainer's entry in a checkpoint's `plugins`: the epoch's phase and its loss so far, so that a
 * resumed epoch reports the uninterrupted `train/loss_epoch` and still runs its validation.
 */
interface EpochProgress {
  phase: EpochPhase;
  lossSum: number;
  lossCount: number;
}

const PROGRESS_KEY = 'core:trainer';
const freshEpoch = (): EpochProgress => ({ phase: 'training', lossSum: 0, lossCount: 0 });

/**
 * Lets signal handlers and I/O callbacks run. Prefetched batches resolve without leaving the
 * microtask queue, so without this a whole epoch can pass before a Ctrl-C is even seen.
 */
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

function readLogs(logs: Record<string, tf.Scalar>): Record<string, number> {
  return Object.fromEntries(Object.entries(logs).map(([k, v]) => [k, v.dataSync()[0]]));
}

/**
 * The loop: epochs of batches, gradients (with accumulation), optimizer steps, validation on
 * its schedule, and the hooks around each. It knows the task, datamodule and optimizer only
 * through their SDK interfaces.
 */
export class Trainer {
  readonly state: TrainerState;
  private interruptReason?: string;
  private readonly sums: GradientSums;
  private batchesPerEpoch = Infinity;
  private progress = freshEpoch();

  constructor(private readonly parts: TrainerParts) {
    this.state = { epoch: 0, batchInEpoch: 0, globalStep: 0, seed: parts.rng.seed, rng: parts.rng.state() };
    this.sums = new GradientSums(parts.gradientSumsOnHost ?? false);
    // The epoch's progress is restored with the plugins' states, after `restore` has set the position.
    parts.hooks.loadCheckpoint.tapPromise({ name: 'core', stage: Stage.runtime }, async (state) => this.loadProgress(state.plugins[PROGRESS_KEY]));
  }

  /** Asks the loop to stop after the current batch (Ctrl-C). */
  interrupt(reason: string): void {
    this.interruptReason = reason;
  }

  private get maxSteps(): number {
    return this.parts.options.fastDevRun ? 1 : (this.parts.options.maxSteps ?? Infinity);
  }

  private limit(batches: number, stage: 'train' | 'val'): number {
    const o = this.parts.options;
    if (o.fastDevRun) return Math.min(1, batches);
    const cap = stage === 'train' ? o.limitTrainBatches : o.limitValBatches;
    return cap === undefined ? batches : Math.min(cap, batches);
  }

  async fit(resumed: boolean): Promise<FitResult> {
    const { hooks, task, options } = this.parts;
    const maxEpochs = options.fastDevRun ? 1 : options.maxEpochs;
    let metrics: Record<string, number> = {};
    let stopReason: string | undefined;
    await hooks.fitStart.promise({ startEpoch: this.state.epoch, globalStep: this.state.globalStep, maxEpochs, maxSteps: this.maxSteps, resumed });
    while (this.state.epoch < maxEpochs && !stopReason && !this.interruptReason) {
      const epoch = this.state.epoch;
      if (this.progress.phase === 'training') {
        const trained = await this.trainEpoch(epoch, maxEpochs);
        if (!trained) break;
        metrics = { ...metrics, ...trained };
        if (this.interruptReason) break;
      }
      if (this.progress.phase === 'validating') {
        const validated = await this.runEvaluation('val', true);
        if (!validated) break;
        metrics = { ...metrics, ...validated };
      }
      this.state.epoch = epoch + 1;
      this.state.batchInEpoch = 0;
      this.progress = freshEpoch();
      if (this.state.globalStep >= this.maxSteps) stopReason = `reached maxSteps (${this.maxSteps})`;
      stopReason ??= hooks.shouldStop.call({ epoch, globalStep: this.state.globalStep, metrics }) || undefined;
    }
    task.model.eval();
    const status: FitStatus = this.interruptReason ? 'interrupted' : stopReason && this.state.epoch < maxEpochs ? 'stopped' : 'completed';
    const reason = this.interruptReason ?? stopReason;
    await hooks.fitEnd.promise({ epoch: this.state.epoch, globalStep: this.state.globalStep, status, reason, metrics });
    return { status, reason, metrics };
  }

  private validationDue(epoch: number, maxEpochs: number): boolean {
    return (epoch + 1) % this.parts.options.valEveryNEpochs === 0 || epoch + 1 === maxEpochs || this.state.globalStep >= this.maxSteps;
  }

  /**
   * The epoch's remaining batches, then its loss and `trainEpochEnd`. Returns undefined when an
   * interrupt stopped it before its end: the epoch is resumed from the checkpoint, not ended.
   */
  private async trainEpoch(epoch: number, maxEpochs: number): Promise<Record<string, number> | undefined> {
    const { hooks, task, datamodule } = this.parts;
    task.model.train();
    task.startEpoch?.(epoch);
    const start = this.state.batchInEpoch;
    const stream = datamodule.trainBatches(epoch, start);
    const total = this.limit(start + stream.length, 'train');
    this.batchesPerEpoch = total;
    const batches = Math.max(0, total - start);
    // A resumed epoch may have nothing left, and a run past maxSteps trains nothing: neither is an empty split.
    const mustTrain = start === 0 && this.state.globalStep < this.maxSteps;
    if (mustTrain && batches === 0) {
      await stream.close?.();
      throw this.noBatchError('train', epoch);
    }
    await hooks.trainEpochStart.promise({ epoch, globalStep: this.state.globalStep, batches });
    const stepAtStart = this.state.globalStep;
    let yielded = 0;
    let interrupted = false;
    try {
      for await (const raw of stream) {
        if (yielded >= batches || this.state.globalStep >= this.maxSteps) {
          tf.dispose(Object.values(raw));
          break;
        }
        const batchIdx = this.state.batchInEpoch;
        const isLast = yielded === batches - 1;
        yielded++;
        const loss = await this.trainBatch(raw, epoch, batchIdx, isLast);
        this.state.batchInEpoch = batchIdx + 1;
        if (loss !== undefined && Number.isFinite(loss)) {
          this.progress.lossSum += loss;
          this.progress.lossCount++;
        }
        if (yielded >= batches) break;
        await yieldToEventLoop();
        // Stops between optimizer steps, so that no accumulated gradient is lost to the resumed run.
        if (this.interruptReason && this.sums.count === 0) {
          interrupted = true;
          break;
        }
      }
    } finally {
      await stream.close?.();
      this.sums.clear();
    }
    if (interrupted) return undefined;
    if (mustTrain && yielded === 0) throw this.noBatchError('train', epoch);
    if (mustTrain && this.state.globalStep === stepAtStart) {
      throw new BtError('NON_FINITE_LOSS', `Every one of the ${yielded} training batches of epoch ${epoch} had a non-finite loss and was skipped: nothing was trained.`, {
        hint: 'Lower the learning rate, check the data for NaNs, or set trainer.onNonFiniteLoss to "stop" to see the first failing batch.',
      });
    }
    this.progress.phase = this.validationDue(epoch, maxEpochs) ? 'validating' : 'done';
    const metrics: Record<string, number> = {};
    if (this.progress.lossCount) metrics['train/loss_epoch'] = this.progress.lossSum / this.progress.lossCount;
    for (const [k, v] of Object.entries(task.epochMetrics?.('train') ?? {})) metrics[`train/${k}`] = v;
    if (Object.keys(metrics).length) await this.parts.publishMetrics(metrics);
    await hooks.trainEpochEnd.promise({ epoch, globalStep: this.state.globalStep, metrics });
    return metrics;
  }

  /** The error for a split that yielded no batch, with the datamodule's counts when it reports them. */
  private noBatchError(split: 'train' | 'val' | 'test', epoch?: number): BtError {
    const counts = this.parts.datamodule.counts?.(split);
    const data = Slots.datamodule.configPath;
    const when = epoch === undefined ? '' : ` in epoch ${epoch}`;
    if (!counts) {
      return new BtError('DATA_MISSING', `The ${split} split yielded no batch${when}.`, { hint: `Check the split and the options under \`${data}\`: the split needs at least one usable sample.` });
    }
    if (counts.listed === 0) {
      return new BtError('DATA_MISSING', `The ${split} split lists no samples.`, { hint: `Add samples to the split, or choose another split under \`${data}\`.` });
    }
    if (counts.dropLast && counts.listed < counts.batchSize) {
      return new ConfigError('CONFIG_INVALID', `The ${split} split lists ${counts.listed} samples, fewer than the batch size (${counts.batchSize}), and its incomplete batch is dropped: there is nothing to train on.`, {
        hint: `Set ${data}.batchSize to ${counts.listed} or less, or ${data}.dropLast: false to train on the incomplete batch.`,
      });
    }
    const numbers = `${counts.listed} samples listed, ${counts.skipped} skipped as unusable, batch size ${counts.batchSize}`;
    if (counts.skipped > 0) {
      return new BtError('DATA_CORRUPT', `The ${split} split yielded no batch${when}: ${numbers}.`, {
        hint: 'Replace or remove the unusable samples named in the warnings above (and their lines in the split file).',
      });
    }
    return new BtError('DATA_MISSING', `The ${split} split yielded no batch${when}: ${numbers}.`, { hint: `Check the options under \`${data}\` that select the split's samples.` });
  }

  /** One batch: forward and gradients, accumulation, optimizer step when due, hooks. Returns the loss. */
  private async trainBatch(raw: Batch, epoch: number, batchIdx: number, isLast: boolean): Promise<number | undefined> {
    const { hooks, task, options } = this.parts;
    const event = { epoch, batchIdx, globalStep: this.state.globalStep };
    if (hooks.trainBatchStart.isUsed() && hooks.trainBatchStart.call(event) === true) {
      tf.dispose(Object.values(raw));
      return undefined;
    }
    const batch = hooks.transformBatch.isUsed() ? hooks.transformBatch.call(raw, event) : raw;
    if (hooks.beforeBackward.isUsed()) hooks.beforeBackward.call({ ...event, batch });
    const variables = task.model.trainableVariables();
    if (Object.keys(variables).length === 0) {
      throw new BtError('RUNTIME', 'The model has no trainable parameters (all frozen?).', { hint: 'Unfreeze a part of the model, e.g. set the head\'s or backbone\'s `freeze: false`.', exitCode: 2 });
    }
    const kept: { logs: Record<string, tf.Scalar>; outputs: NamedTensors } = { logs: {}, outputs: {} };
    const ctx = { epoch, batchIdx, globalStep: this.state.globalStep, training: true };
    const { value, grads } = tf.variableGrads(() => {
      const out: StepOutput = task.trainingStep(batch, ctx);
      // Copies, so that a log or output that is the loss tensor itself outlives the loss.
      for (const [k, v] of Object.entries(out.logs ?? {})) kept.logs[k] = tf.keep(v === out.loss ? tf.clone(v) : v);
      for (const [k, v] of Object.entries(out.outputs ?? {})) kept.outputs[k] = tf.keep(v === out.loss ? tf.clone(v) : v);
      return out.loss;
    }, Object.values(variables));
    const names = new Map(Object.entries(variables).map(([name, v]) => [v.name, name]));
    const named: NamedTensors = {};
    for (const [id, g] of Object.entries(grads)) named[names.get(id) ?? id] = g;
    const loss = value.dataSync()[0];
    value.dispose();
    try {
      if (!Number.isFinite(loss) && options.onNonFiniteLoss !== 'ignore') {
        if (options.onNonFiniteLoss === 'stop') {
          throw new BtError('NON_FINITE_LOSS', `The training loss is ${loss} at epoch ${epoch}, batch ${batchIdx} (before optimizer step ${this.state.globalStep + 1}).`, {
            hint: 'Lower the learning rate, check the data for NaNs, or set trainer.onNonFiniteLoss to "skip".',
          });
        }
        disposeAll(named);
        return loss;
      }
      this.sums.add(named);
      const due = this.sums.count >= options.accumulateGradBatches || isLast;
      if (due) await this.optimizerStep(epoch, batchIdx);
      const logs = readLogs(kept.logs);
      // After the step: globalStep counts it, as the metrics logged for this batch do.
      if (hooks.trainBatchEnd.isUsed()) await hooks.trainBatchEnd.promise({ ...event, globalStep: this.state.globalStep, loss, logs, batch, outputs: kept.outputs });
      if (due && (this.state.globalStep % options.logEveryNSteps === 0 || this.state.globalStep === 1)) {
        const values: Record<string, number> = { 'train/loss': loss };
        for (const [k, v] of Object.entries(logs)) values[`train/${k}`] = v;
        await this.parts.publishMetrics(values);
      }
      return loss;
    } finally {
      disposeAll(kept.logs, kept.outputs, batch);
      if (batch !== raw) disposeAll(raw);
    }
  }

  private async optimizerStep(epoch: number, batchIdx: number): Promise<void> {
    const { hooks, task, optimizer, schedule, options } = this.parts;
    let grads = this.sums.take(options.accumulateGradBatches);
    const event = { epoch, batchIdx, globalStep: this.state.globalStep };
    try {
      if (hooks.afterBackward.isUsed()) hooks.afterBackward.call({ ...event, grads });
      if (options.gradClipNorm !== undefined) {
        const clipped = clipByGlobalNorm(grads, options.gradClipNorm);
        disposeAll(grads);
        grads = clipped;
      }
      if (!optimizer) throw new BtError('RUNTIME', 'Training needs an optimizer.', { hint: 'Add `optimizer: { use: adamw, lr: 1e-3 }` to the config.', exitCode: 2 });
      const lr = schedule
        ? schedule.lr(optimizer.lr, {
            step: this.state.globalStep,
            epoch,
            stepsPerEpoch: Math.max(1, Math.ceil(this.batchesPerEpoch / options.accumulateGradBatches)),
            maxEpochs: options.maxEpochs,
            maxSteps: options.maxSteps ?? Infinity,
          })
        : optimizer.lr;
      if (hooks.beforeOptimizerStep.isUsed()) hooks.beforeOptimizerStep.call({ ...event, grads, lr });
      optimizer.step(task.model.trainableVariables(), grads, lr);
      this.state.globalStep++;
    } finally {
      disposeAll(grads);
    }
  }

  /** Runs the validation or test split with the model in eval mode; returns `<stage>/<metric>` values. */
  async evaluate(stage: 'val' | 'test'): Promise<Record<string, number>> {
    return (await this.runEvaluation(stage, false))!;
  }

  /**
   * During fit, an interrupt abandons the validation: its metrics are not published, its end hook
   * does not fire, and the checkpoint keeps it due for the resumed run.
   */
  private async runEvaluation(stage: 'val' | 'test', duringFit: boolean): Promise<Record<string, number> | undefined> {
    const { hooks, task, datamodule } = this.parts;
    const stream: BatchStream | undefined = stage === 'val' ? datamodule.valBatches() : datamodule.testBatches?.();
    if (!stream) throw new BtError('RUNTIME', 'The datamodule has no test split.', { hint: 'Use `bt-platform validate`, or a datamodule with a test split.', exitCode: 2 });
    const step = stage === 'val' ? task.validationStep.bind(task) : (task.testStep ?? task.validationStep).bind(task);
    const [startHook, batchHook, endHook] =
      stage === 'val' ? [hooks.validationStart, hooks.validationBatchEnd, hooks.validationEnd] : [hooks.testStart, hooks.testBatchEnd, hooks.testEnd];
    const wasTraining = task.model.training;
    task.model.eval();
    const batches = this.limit(stream.length, 'val');
    const { epoch, globalStep } = this.state;
    await startHook.promise({ stage, epoch, globalStep, batches });
    let lossSum = 0;
    let count = 0;
    const logSums: Record<string, number> = {};
    let interrupted = false;
    try {
      let batchIdx = 0;
      for await (const batch of stream) {
        if (batchIdx >= batches) {
          disposeAll(batch);
          break;
        }
        const values = tf.tidy(() => {
          const out = step(batch, { epoch, batchIdx, globalStep, training: false });
          return { loss: out.loss, logs: out.logs ?? {}, outputs: out.outputs ?? {} } as unknown as tf.TensorContainerObject;
        }) as unknown as StepValues;
        try {
          const loss = values.loss.dataSync()[0];
          const logs = readLogs(values.logs);
          lossSum += loss;
          count++;
          for (const [k, v] of Object.entries(logs)) logSums[k] = (logSums[k] ?? 0) + v;
          if (batchHook.isUsed()) await batchHook.promise({ stage, epoch, batchIdx, globalStep, loss, logs, batch, outputs: values.outputs });
        } finally {
          values.loss.dispose();
          disposeAll(values.logs, values.outputs, batch);
        }
        batchIdx++;
        if (batchIdx >= batches) break;
        if (duringFit) {
          await yieldToEventLoop();
          if (this.interruptReason) {
            interrupted = true;
            break;
          }
        }
      }
    } finally {
      await stream.close?.();
      task.model.train(wasTraining);
    }
    if (interrupted) return undefined;
    if (count === 0) throw this.noBatchError(stage);
    if (duringFit) this.progress.phase = 'done';
    const metrics: Record<string, number> = {};
    if (count) {
      metrics[`${stage}/loss`] = lossSum / count;
      for (const [k, v] of Object.entries(logSums)) metrics[`${stage}/${k}`] = v / count;
    }
    for (const [k, v] of Object.entries(task.epochMetrics?.(stage) ?? {})) metrics[`${stage}/${k}`] = v;
    if (Object.keys(metrics).length) await this.parts.publishMetrics(metrics);
    await endHook.promise({ stage, epoch, globalStep, metrics });
    return metrics;
  }

  /** The core's part of a checkpoint: trainer position, RNG, model weights and optimizer state. */
  coreState(metrics: Record<string, number>): CheckpointState {
    const tensors: CheckpointState['tensors'] = {};
    for (const [name, t] of Object.entries(this.parts.task.model.stateDict())) tensors[MODEL_PREFIX + name] = t;
    const plugins: Record<string, unknown> = {};
    if (this.parts.optimizer) {
      const opt = this.parts.optimizer.state();
      for (const [name, t] of Object.entries(opt.tensors)) tensors[OPTIMIZER_PREFIX + name] = t;
      plugins['core:optimizer'] = opt.json;
    }
    if (this.parts.datamodule.state) plugins['core:datamodule'] = this.parts.datamodule.state();
    // A finished epoch resumes at the start of the next one; an unfinished one where it stands, with its loss so far.
    const done = this.progress.phase === 'done';
    const position = done ? { epoch: this.state.epoch + 1, batchInEpoch: 0 } : {};
    plugins[PROGRESS_KEY] = done ? freshEpoch() : { ...this.progress };
    return { format: 'bt-platform/1', trainer: { ...this.state, ...position, rng: this.parts.rng.state() }, tensors, plugins, metrics };
  }

  /** Reads the trainer's checkpoint entry; a checkpoint without one resumes at the start of its position's epoch phase. */
  private loadProgress(saved: unknown): void {
    const entry = (saved ?? {}) as Partial<Record<keyof EpochProgress, unknown>>;
    const finite = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
    this.progress = { phase: entry.phase === 'validating' ? 'validating' : 'training', lossSum: finite(entry.lossSum), lossCount: finite(entry.lossCount) };
  }

  /**
   * `state` comes from `readCheckpoint`, which has validated the trainer fields. `configChanges`
   * says, when it can tell, which config key differs from the run that wrote the checkpoint.
   */
  restore(state: CheckpointState, source: string, configChanges?: () => string | undefined): void {
    try {
      this.parts.task.model.loadStateDict(tensorsWithPrefix(state, MODEL_PREFIX), { source: `checkpoint ${source}` });
    } catch (error) {
      if (!(error instanceof BtError) || error.code !== 'WEIGHTS_MISMATCH') throw error;
      // loadStateDict's hint (`strict: false`) is for pretrained weights; a resumed run needs every tensor.
      const changes = configChanges?.();
      const cause = changes ? `The run that wrote it used another config: ${changes}.` : 'The checkpoint was written for another model config.';
      throw new BtError('CHECKPOINT_MISMATCH', error.message, {
        hint:
          `${cause} Use the config of the run that wrote it, or start a new run that loads what fits: ` +
          `set a backbone's \`weights:\` (or the segmentation task's \`backboneCheckpoint\`) to ${source} instead of resuming.`,
        cause: error,
      });
    }
    if (this.parts.optimizer) this.parts.optimizer.loadState({ tensors: tensorsWithPrefix(state, OPTIMIZER_PREFIX), json: state.plugins['core:optimizer'] });
    if (this.parts.datamodule.loadState && state.plugins['core:datamodule'] !== undefined) this.parts.datamodule.loadState(state.plugins['core:datamodule']);
    const { epoch, batchInEpoch, globalStep, seed, rng } = state.trainer;
    Object.assign(this.state, { epoch, batchInEpoch, globalStep, seed, rng: [...rng] });
    this.parts.rng.restore(rng);
  }
}

function clipByGlobalNorm(grads: NamedTensors, maxNorm: number): NamedTensors {
  return tf.tidy(() => {
    const norm = tf.sqrt(tf.addN(Object.values(grads).map((g) => tf.sum(tf.square(g)))));
    const scale = tf.minimum(1, tf.div(maxNorm, tf.add(norm, 1e-6)));
    return Object.fromEntries(Object.entries(grads).map(([n, g]) => [n, tf.mul(g, scale)]));
  }) as NamedTensors;
}
