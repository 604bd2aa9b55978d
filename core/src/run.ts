import { rmSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  BtError,
  ConfigError,
  fileWriteError,
  hasCappedHeap,
  isBtError,
  readCheckpoint,
  removeStaleTempFiles,
  Rng,
  Slots,
  Stage,
  type AnySlot,
  type BtConfig,
  type Callback,
  type CheckpointState,
  type Backend,
  type DataModule,
  type Optimizer,
  type Task,
  type FitStatus,
  type PluginDefinition,
  type RunContext,
  type RunSession,
  MODEL_PREFIX,
  tensorsWithPrefix,
  type RunStage,
  type Slot,
} from '@bt-platform/sdk';
import { checkpointConfigChanges } from './checkpointConfigChanges.js';
import { checkComparison, compareStages } from './compareStages.js';
import { createHooks } from './hooks.js';
import { loadConfigFile, loadConfigObject, splitStages, substituteStageRefs, type LoadedConfig, type StageConfig } from './config/load.js';
import { overriddenStages } from './config/stageOverrides.js';
import { withComponentDefaults } from './config/componentDefaults.js';
import { locatePipelineResume } from './pipelineResume.js';
import { createContainer } from './registry.js';
import { checkStages, resolveRun, type ResolvedRun } from './resolve.js';
import { RunLog, type Level } from './log.js';
import { createRunDir, RunFiles } from './run-dir.js';
import { Trainer, type FitResult } from './trainer.js';

export interface RunOptions {
  /** A config file (else `config`, else the config found in `cwd` by its discovery name). */
  configFile?: string;
  config?: BtConfig | Record<string, unknown>;
  cwd?: string;
  /** `--set key.path=value` overrides. */
  overrides?: string[];
  command?: RunStage;
  /** Continue from a checkpoint (fit) or evaluate its weights (validate/test). */
  resume?: string;
  /** For a pipeline: run only this stage (evaluation commands use the last stage by default). */
  stage?: string;
  /** Plugin objects added to the built-ins and the config's `plugins`. */
  plugins?: PluginDefinition[];
  /** Console shows warnings and errors only. */
  quiet?: boolean;
  verbose?: boolean;
  /** Install SIGINT/SIGTERM handlers that stop gracefully (the CLI does). */
  handleSignals?: boolean;
}

export interface RunResult {
  runDir: string;
  status: FitStatus;
  reason?: string;
  metrics: Record<string, number>;
  summary: Record<string, unknown>;
  /** For pipelines: the result of each stage run, in order (a resumed pipeline's from the resumed stage on). */
  stages?: RunResult[];
}

/**
 * Loads the config (file or object), applies overrides and splits pipeline stages. On a pipeline,
 * overrides apply again after each stage's merge, so that they win over the stages' own values.
 */
export async function loadRunConfig(options: RunOptions): Promise<{ loaded: LoadedConfig; stages: Awaited<ReturnType<typeof splitStages>> }> {
  const cwd = options.cwd ?? process.cwd();
  const loaded = options.config && !options.configFile
    ? await loadConfigObject(options.config as Record<string, unknown>, cwd)
    : await loadConfigFile(cwd, options.configFile);
  return { loaded, stages: await overriddenStages(loaded, options.overrides ?? []) };
}

/**
 * One stage of a pipeline on its own: `name`, or the last. References to earlier stages' results
 * are dropped, since nothing ran before it.
 */
function pickStage(stages: StageConfig[], loaded: LoadedConfig, name?: string): { raw: Record<string, unknown>; notes: string[] } {
  const chosen = name ? stages.find((s) => s.name === name) : stages.at(-1);
  if (!chosen) {
    throw new ConfigError('CONFIG_INVALID', `${loaded.file ?? 'config'}: no stage named "${name}" (stages: ${stages.map((s) => s.name ?? '(none)').join(', ')}).`, {
      hint: 'Use one of the names under `stages`.',
    });
  }
  const dropped: string[] = [];
  const raw = substituteStageRefs(chosen.raw, new Map(), `${loaded.file ?? 'config'}: stages.${chosen.name}`, dropped) as Record<string, unknown>;
  const notes = dropped.map((d) => `stage "${chosen.name}" run alone: ignoring ${d} (set it with --set to use that stage's output)`);
  return { raw, notes };
}

/** Runs a config: one run, or each stage of a pipeline in order (evaluation: one stage). */
export async function run(options: RunOptions = {}): Promise<RunResult> {
  const { loaded, stages } = await loadRunConfig(options);
  if (stages.length === 1 && stages[0].name === undefined) {
    if (options.stage) throw new ConfigError('CONFIG_INVALID', `${loaded.file ?? 'config'} has no \`stages\`, so --stage ${options.stage} does not apply.`);
    const [warnings] = await checkStages(stages, loaded.dir, loaded.file, options.plugins ?? [], options.command ?? 'fit');
    return runOnce(stages[0].raw, loaded, options, undefined, warnings);
  }
  if (options.stage || (options.command ?? 'fit') !== 'fit') {
    const { raw, notes } = pickStage(stages, loaded, options.stage);
    const name = options.stage ?? stages.at(-1)!.name;
    const [warnings] = await checkStages([{ name, raw }], loaded.dir, loaded.file, options.plugins ?? [], options.command ?? 'fit');
    return (await createRun(raw, loaded, options, undefined, '', [...notes, ...warnings])).execute();
  }
  // Every stage is checked before the first one starts: a misfit in the last must not cost the others' training.
  const warnings = await checkStages(stages, loaded.dir, loaded.file, options.plugins ?? [], 'fit');
  // A resumed pipeline continues the stage its checkpoint belongs to, in a new pipeline directory,
  // with the earlier stages' results read from the run that wrote the checkpoint.
  const resumed = options.resume ? locatePipelineResume(stages, path.resolve(options.cwd ?? process.cwd(), options.resume), loaded.file ?? 'config') : undefined;
  const first = await resolveRun(stages[0].raw, loaded.dir, loaded.file, options.plugins ?? []);
  const comparisons = [first.config.compare ?? []].flat();
  for (const comparison of comparisons) checkComparison(comparison, stages.map((s) => s.name!), loaded.file ?? 'config');
  const parent = createRunDir(path.resolve(loaded.dir, first.config.runDir), first.config.name);
  const summaries = new Map<string, Record<string, unknown>>(resumed?.summaries);
  const results: RunResult[] = [];
  for (const [index, stage] of stages.entries()) {
    if (resumed && index < resumed.index) continue;
    const raw = substituteStageRefs(stage.raw, summaries, `${loaded.file ?? 'config'}: stages.${stage.name}`) as Record<string, unknown>;
    const resume = index === resumed?.index ? options.resume : undefined;
    const notes = resume ? [`resuming stage "${stage.name}" of ${resumed!.from}${index > 0 ? ', with the results of the stages before it there' : ''}`] : [];
    notes.push(...warnings[index]);
    const result = await (await createRun(raw, loaded, { ...options, resume }, path.join(parent, stage.name!), '', notes)).execute();
    results.push(result);
    summaries.set(stage.name!, result.summary);
    if (result.status !== 'completed' && result.status !== 'stopped') break;
  }
  const last = results.at(-1)!;
  const metrics = new Map([...summaries].map(([name, s]) => [name, s.metrics as Record<string, number>]));
  const compared = comparisons.map((comparison) => compareStages(comparison, metrics));
  const summary = {
    ...(resumed ? { resumedFrom: resumed.from } : {}),
    stages: Object.fromEntries(summaries),
    ...(compared.length ? { compare: compared.map(({ metric, values }) => ({ metric, values })) } : {}),
  };
  new RunFiles(parent).writeSummary(summary);
  const log = new RunLog(options.quiet ? 'warn' : 'info');
  for (const { metric, missing, line } of compared) {
    if (missing.length) log.warn(`compare: no final ${metric} from stage ${missing.join(', ')}`);
    if (line) log.info(line);
  }
  return { runDir: parent, status: last.status, reason: last.reason, metrics: last.metrics, summary, stages: results };
}

async function createRun(raw: Record<string, unknown>, loaded: LoadedConfig, options: RunOptions, exactDir?: string, suffix = '', notes: string[] = []): Promise<Run> {
  const resolved = withComponentDefaults(await resolveRun(raw, loaded.dir, loaded.file, options.plugins ?? []));
  const { config } = resolved;
  const command = options.command ?? 'fit';
  const level: Level = options.verbose ? 'debug' : options.quiet ? 'warn' : 'info';
  const log = new RunLog(level);
  const runsDir = path.resolve(loaded.dir, config.runDir);
  const origin = `${loaded.file ?? 'config'}: runDir`;
  const runDir = exactDir ? createRunDir(path.dirname(exactDir), path.basename(exactDir), true, origin) : createRunDir(runsDir, `${config.name}${suffix}`, false, origin);
  const files = new RunFiles(runDir);
  try {
    log.attachFile(path.join(runDir, 'log.txt'));
    files.writeConfig(config);
    log.info(`run directory: ${runDir}`);
  } catch (error) {
    // Nothing ran yet: leave no half-made run directory behind.
    try {
      rmSync(runDir, { recursive: true, force: true });
    } catch {
      // The write's error is the one to report.
    }
    throw isBtError(error) ? error : fileWriteError(path.join(runDir, 'log.txt'), error);
  }
  for (const note of notes) log.warn(note);
  removeLeftovers(log, runsDir, options.resume && path.resolve(options.cwd ?? process.cwd(), options.resume));
  return new Run(resolved, files, log, command, options);
}

/**
 * Deletes the temporary files of writes that were killed (a checkpoint's is as large as the
 * model): in the runs directory (its runs, and the stages of its pipelines) and next to a resumed
 * checkpoint.
 */
function removeLeftovers(log: RunLog, runsDir: string, resumed?: string): void {
  const removed = [...removeStaleTempFiles(runsDir, 3), ...(resumed ? removeStaleTempFiles(path.dirname(resumed)) : [])];
  for (const file of removed) log.info(`removed ${file}, left by a write that was killed`);
}

async function runOnce(raw: Record<string, unknown>, loaded: LoadedConfig, options: RunOptions, exactDir?: string, notes: string[] = []): Promise<RunResult> {
  return (await createRun(raw, loaded, options, exactDir, '', notes)).execute();
}

/**
 * Builds a config's components without running the loop, for commands (`predict`, `tune`, …).
 * A pipeline's last stage is used unless `stage` names another.
 */
export async function openSession(options: RunOptions & { name?: string }): Promise<RunSession> {
  const { loaded, stages } = await loadRunConfig(options);
  const { raw, notes } = stages.length === 1 && stages[0].name === undefined ? { raw: stages[0].raw, notes: [] } : pickStage(stages, loaded, options.stage);
  const run = await createRun(raw, loaded, { ...options, command: 'test' }, undefined, `-${options.name ?? 'session'}`, notes);
  return run.session();
}

/** One run: the container, the hooks, the components and the trainer, and the failure path around them. */
class Run {
  private readonly hooks = createHooks();
  private readonly container = createContainer();
  private readonly rootRng: Rng;
  private readonly summary: Record<string, unknown> = {};
  private trainer?: Trainer;
  /** A Ctrl-C that came before the trainer existed, handed to it when it is created. */
  private interruptReason?: string;
  /** Set once created, so teardown never creates a datamodule just to release it. */
  private datamodule?: DataModule;
  /** Released at teardown: a pipeline's next stage or a test's next run starts with free memory. */
  private task?: Task;
  private optimizer?: Optimizer;
  /** Asked to describe a failure it recognises (out of memory) before the run reports it. */
  private backend?: Backend;
  private lastMetrics: Record<string, number> = {};
  private readonly position = { epoch: 0, globalStep: 0, batchInEpoch: 0 };

  constructor(
    private readonly resolved: ResolvedRun,
    private readonly files: RunFiles,
    private readonly log: RunLog,
    private readonly command: RunStage,
    private readonly options: RunOptions,
  ) {
    this.rootRng = new Rng(resolved.config.seed);
    // Production mode skips tfjs's debug-only checks and its console banner.
    tf.enableProdMode();
  }

  private context(label: string): RunContext {
    const { config, configDir } = this.resolved;
    return {
      config: config as unknown as Record<string, unknown>,
      runDir: this.files.dir,
      configDir,
      rng: this.rootRng.fork(label),
      log: this.log,
      hooks: this.hooks,
      trainer: this.position,
      get: <T>(slot: Slot<T>) => this.get(slot),
      resolvePath: (p: string) => path.resolve(configDir, p),
      logMetrics: (values) => this.publishMetrics(values),
      logMedia: async (media) => {
        await this.hooks.media.promise({ ...media, epoch: this.position.epoch, step: this.position.globalStep });
      },
      logHistograms: async (values) => {
        await this.hooks.histograms.promise({ values, epoch: this.position.epoch, step: this.position.globalStep });
      },
      mediaPath: (key, ext = 'png') => this.files.mediaPath(key, this.position.globalStep, ext),
      setSummary: (key, value) => {
        this.summary[key] = value;
      },
      collectCheckpoint: () => this.collectCheckpoint(),
    };
  }

  private async publishMetrics(values: Record<string, number>): Promise<void> {
    Object.assign(this.lastMetrics, values);
    await this.hooks.metrics.promise({ epoch: this.position.epoch, step: this.position.globalStep, values });
  }

  private async collectCheckpoint(): Promise<CheckpointState> {
    if (!this.trainer) throw new BtError('RUNTIME', 'A checkpoint was requested before training started.');
    return this.hooks.saveCheckpoint.promise(this.trainer.coreState({ ...this.lastMetrics }));
  }

  async get<T>(slot: Slot<T>): Promise<T> {
    const selected = this.resolved.selections.get(slot as unknown as AnySlot) ?? [];
    if (selected.length === 0) {
      const names = this.resolved.registry.names(slot);
      throw new ConfigError('CONFIG_INVALID', `${this.resolved.configFile ?? 'config'}: ${slot.configPath} is required here but missing.`, {
        hint: `Add \`${slot.configPath.split('.').at(-1)}: { use: <name> }\` (under ${slot.configPath.includes('.') ? slot.configPath.split('.')[0] : 'the top level'}); registered ${slot.key} names: ${names.join(', ') || 'none'}.`,
      });
    }
    return this.container.getAsync<T>(slot.id);
  }

  /** Binds every selected component to its slot token; each is created on first request. */
  private bindComponents(): void {
    for (const [slot, list] of this.resolved.selections) {
      for (const { component, options, at } of list) {
        this.container
          .bind(slot.id)
          .toDynamicValue(async () => {
            const label = `${slot.key}:${component.definition.name}:${at}`;
            return component.definition.create(options, this.context(label));
          })
          .inSingletonScope();
      }
    }
  }

  private tapCore(): void {
    const tap = { name: 'core', stage: Stage.runtime };
    this.hooks.metrics.tapPromise(tap, async (event) => this.files.appendMetrics(event));
    this.hooks.media.tapPromise(tap, async (event) => this.files.appendMedia(event));
    this.hooks.histograms.tapPromise(tap, async (event) => this.files.appendHistograms(event));
    for (const hook of [this.hooks.trainBatchEnd, this.hooks.trainEpochStart, this.hooks.trainEpochEnd, this.hooks.validationStart, this.hooks.testStart]) {
      (hook as typeof this.hooks.trainEpochStart).tapPromise(tap, async (event) => this.syncPosition(event));
    }
  }

  private syncPosition(event: { epoch: number; globalStep: number }): void {
    this.position.epoch = event.epoch;
    this.position.globalStep = this.trainer?.state.globalStep ?? event.globalStep;
    this.position.batchInEpoch = this.trainer?.state.batchInEpoch ?? 0;
  }

  /** Applies plugins, then creates the backend, datamodule, task and (for training) optimizer, schedule, callbacks and loggers. */
  private async prepare(training: boolean, withCallbacks: boolean) {
    this.bindComponents();
    this.tapCore();
    for (const loaded of this.resolved.plugins) {
      if (!loaded.plugin.apply) continue;
      const ctx = { ...this.context(`plugin:${loaded.plugin.name}`), options: loaded.options };
      await loaded.plugin.apply(this.hooks, ctx);
    }
    const backend = await this.get(Slots.backend);
    this.backend = backend;
    this.summary.backend = `${backend.info.name} (${backend.info.device})`;
    const datamodule = await this.get(Slots.datamodule);
    this.datamodule = datamodule;
    const task = await this.get(Slots.task);
    this.task = task;
    const optimizer = training ? await this.get(Slots.optimizer) : undefined;
    this.optimizer = optimizer;
    const capped = hasCappedHeap(backend);
    if (capped) optimizer?.keepStateOnHost?.();
    optimizer?.attach?.(Object.fromEntries(task.model.namedParameters()));
    const schedule = training && this.resolved.selections.get(Slots.lrSchedule as AnySlot)?.length ? await this.get(Slots.lrSchedule) : undefined;
    if (withCallbacks) {
      for (const slot of [Slots.callback, Slots.logger]) {
        if (!this.resolved.selections.get(slot as AnySlot)?.length) continue;
        for (const callback of await this.container.getAllAsync<Callback>(slot.id)) await callback.apply(this.hooks);
      }
    }
    this.trainer = new Trainer({
      hooks: this.hooks,
      task,
      datamodule,
      optimizer,
      schedule,
      options: this.resolved.config.trainer,
      rng: this.rootRng.fork('trainer'),
      publishMetrics: (values) => this.publishMetrics(values),
      gradientSumsOnHost: capped && this.resolved.config.trainer.accumulateGradBatches > 1,
    });
    if (this.interruptReason) this.trainer.interrupt(this.interruptReason);
    this.summary.parameters = task.model.parameterCount();
    return { task, datamodule };
  }

  /** Components for a command (predict, tune, …): no callbacks, no loggers, no training loop. */
  async session(): Promise<RunSession> {
    const { task } = await this.prepare(false, false);
    return {
      runDir: this.files.dir,
      config: this.resolved.config as unknown as Record<string, unknown>,
      configDir: this.resolved.configDir,
      log: this.log,
      get: (slot) => this.get(slot),
      loadWeights: async (file) => {
        const absolute = path.resolve(this.options.cwd ?? process.cwd(), file);
        const state = await readCheckpoint(absolute);
        try {
          task.model.loadStateDict(tensorsWithPrefix(state, MODEL_PREFIX), { source: `checkpoint ${file}` });
        } catch (error) {
          if (!(error instanceof BtError) || error.code !== 'WEIGHTS_MISMATCH') throw error;
          // Evaluating needs every tensor, so loadStateDict's `strict: false` hint does not apply.
          const changes = checkpointConfigChanges(absolute, this.resolved.config);
          throw new BtError('CHECKPOINT_MISMATCH', error.message, {
            hint: `${changes ? `The run that wrote it used another config: ${changes}.` : 'The checkpoint was written for another model config.'} Use the config of the run that wrote it (its config.yaml in the run directory): -c <run>/config.yaml.`,
            cause: error,
          });
        }
        return state;
      },
      close: () => this.teardown('completed'),
    };
  }

  async execute(): Promise<RunResult> {
    const started = Date.now();
    let status: FitStatus = 'failed';
    let result: FitResult | undefined;
    const removeSignals = this.options.handleSignals ? this.installSignalHandlers() : () => {};
    try {
      const training = this.command === 'fit';
      const { task, datamodule } = await this.prepare(training, true);
      await datamodule.setup?.(this.command);
      await this.hooks.setup.promise({ stage: this.command, task, datamodule, runDir: this.files.dir });
      if (this.options.resume) await this.resume(this.options.resume);
      if (training) {
        result = await this.trainer!.fit(Boolean(this.options.resume));
      } else {
        const metrics = await this.trainer!.evaluate(this.command === 'validate' ? 'val' : 'test');
        result = { status: 'completed', metrics };
      }
      status = result.status;
      return this.finish(status, result, started);
    } catch (error) {
      const err = this.describeFailure(error);
      this.summary.error = err.message;
      await this.hooks.exception.promise({ error: err, stage: this.command }).catch((e: Error) => this.log.error(`while handling the failure: ${e.message}`));
      this.finish('failed', result, started, false);
      throw err;
    } finally {
      removeSignals();
      await this.teardown(status);
    }
  }

  private finish(status: FitStatus, result: FitResult | undefined, started: number, ok = true): RunResult {
    // An evaluation reports what it measured, not the metrics stored in the checkpoint it loaded.
    const metrics = this.command === 'fit' ? { ...this.lastMetrics, ...(result?.metrics ?? {}) } : { ...(result?.metrics ?? {}) };
    Object.assign(this.summary, {
      name: this.resolved.config.name,
      command: this.command,
      status,
      reason: result?.reason,
      epochs: this.trainer?.state.epoch,
      steps: this.trainer?.state.globalStep,
      durationSec: Math.round((Date.now() - started) / 100) / 10,
      metrics,
      runDir: this.files.dir,
    });
    this.files.writeSummary(this.summary);
    if (ok) this.log.info(`${status}${result?.reason ? ` (${result.reason})` : ''}: ${formatMetrics(metrics)}`);
    return { runDir: this.files.dir, status, reason: result?.reason, metrics, summary: this.summary };
  }

  private async resume(file: string): Promise<void> {
    const absolute = path.resolve(this.options.cwd ?? process.cwd(), file);
    const state = await readCheckpoint(absolute);
    this.trainer!.restore(state, file, () => checkpointConfigChanges(absolute, this.resolved.config));
    Object.assign(this.position, { epoch: state.trainer.epoch, globalStep: state.trainer.globalStep, batchInEpoch: state.trainer.batchInEpoch });
    Object.assign(this.lastMetrics, state.metrics);
    await this.hooks.loadCheckpoint.promise(state);
    this.log.info(`resumed from ${file} at epoch ${state.trainer.epoch}, batch ${state.trainer.batchInEpoch}, step ${state.trainer.globalStep}`);
  }

  private async teardown(status: FitStatus): Promise<void> {
    try {
      await this.hooks.teardown.promise({ status });
    } catch (error) {
      this.log.error(`teardown: ${(error as Error).message}`);
    }
    try {
      await this.datamodule?.teardown?.();
    } catch (error) {
      this.log.debug(`datamodule teardown: ${(error as Error).message}`);
    }
    try {
      this.optimizer?.dispose?.();
      this.task?.model.dispose();
    } catch (error) {
      // A backend that failed (a wasm heap that aborted) may fail again here; the first failure is the one to report.
      this.log.debug(`releasing the model: ${(error as Error).message}`);
    }
  }

  /** The backend's reading of a failure it recognises as its own (out of memory), else the error itself. */
  private describeFailure(error: unknown): Error {
    const state = this.trainer?.state;
    const place = { stage: this.command, epoch: state?.epoch ?? 0, batch: state?.batchInEpoch ?? 0, globalStep: state?.globalStep ?? 0 };
    return this.backend?.describeError?.(error, place) ?? (error instanceof Error ? error : new Error(String(error)));
  }

  /** First Ctrl-C: stop after the current batch and keep a checkpoint; second: exit at once. */
  private installSignalHandlers(): () => void {
    let count = 0;
    const handler = (signal: NodeJS.Signals) => {
      count++;
      if (count > 1) {
        this.log.warn(`${signal} again: exiting without cleanup.`);
        process.exit(130);
      }
      this.log.warn(`${signal}: stopping after the current batch and saving a checkpoint (press Ctrl-C again to quit at once).`);
      this.interruptReason = `interrupted by ${signal}`;
      this.trainer?.interrupt(this.interruptReason);
    };
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
    return () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    };
  }
}

export function formatMetrics(metrics: Record<string, number>): string {
  // Per-step training values and per-class entries (`val/IoU/<class>`) stay in metrics.jsonl.
  const keys = Object.keys(metrics)
    .filter((k) => (!k.startsWith('train/') || k.endsWith('_epoch')) && k.split('/').length <= 2)
    .sort();
  return keys.map((k) => `${k}=${Number.isInteger(metrics[k]) ? metrics[k] : metrics[k].toPrecision(4)}`).join(' ') || '(no metrics)';
}
