import {
  AsyncParallelHook,
  AsyncSeriesHook,
  AsyncSeriesWaterfallHook,
  SyncBailHook,
  SyncHook,
  SyncWaterfallHook,
} from 'tapable';
import type * as tf from '@tensorflow/tfjs';
import type { CheckpointState } from './checkpoint.js';
import type { Batch, DataModule, Task } from './components.js';

export type RunStage = 'fit' | 'validate' | 'test';
export type EvalStage = 'val' | 'test';
export type NamedTensors = Record<string, tf.Tensor>;

export interface SetupEvent {
  stage: RunStage;
  task: Task;
  datamodule: DataModule;
  runDir: string;
}

export interface FitStartEvent {
  startEpoch: number;
  globalStep: number;
  maxEpochs: number;
  maxSteps: number;
  resumed: boolean;
}

export interface EpochStartEvent {
  epoch: number;
  globalStep: number;
  /** Batches in this epoch (after fast-dev-run limits). */
  batches: number;
}

/**
 * Step convention: every event's `globalStep` is the number of optimizer steps taken when it
 * fires. Events before a batch's step (`trainBatchStart`, `transformBatch`, `beforeBackward`,
 * `afterBackward`, `beforeOptimizerStep`, the task's StepContext and the LR schedule) carry the
 * count before it: 0 for the first batch. `trainBatchEnd` and every later event carry the count
 * after it: 1 for the first batch, the step that batch's metrics.jsonl line, media, checkpoints
 * and summary.json's `steps` show. A batch that takes no step (gradient accumulation) ends with
 * the count unchanged.
 */
export interface BatchEvent {
  epoch: number;
  batchIdx: number;
  /** Optimizer steps taken before this batch's step (0-based index of the step it leads to). */
  globalStep: number;
}

export interface BackwardEvent extends BatchEvent {
  batch: Batch;
}

export interface GradientsEvent extends BatchEvent {
  /** Gradients by parameter name, summed over accumulated batches once the step is due; alive only during the call. */
  grads: NamedTensors;
}

export interface OptimizerStepEvent extends GradientsEvent {
  lr: number;
}

export interface StepResultEvent extends BatchEvent {
  /** Optimizer steps taken, this batch's included: 1 after the first step (in `validationBatchEnd`: the steps trained so far). */
  globalStep: number;
  loss: number;
  /** Scalars the task logged for this batch, already read back to numbers. */
  logs: Record<string, number>;
  /** The batch and the task's outputs; alive only during the call (copy with tf.clone + tf.keep to retain). */
  batch: Batch;
  outputs: NamedTensors;
}

export interface MetricsEvent {
  epoch: number;
  /** Optimizer steps taken when the values were logged (the `step` of metrics.jsonl). */
  step: number;
  /** Keys are `<stage>/<name>`, e.g. `train/loss`, `val/mIoU`, `lr`. */
  values: Record<string, number>;
}

export interface MediaEvent {
  epoch: number;
  step: number;
  /** A stable key for this series of images, e.g. `attention/val_0`. */
  key: string;
  /** Absolute path of the image file inside the run directory. */
  path: string;
  caption?: string;
}

export interface Histogram {
  /** Bin edges, length `counts.length + 1`. */
  edges: number[];
  counts: number[];
}

export interface HistogramsEvent {
  epoch: number;
  step: number;
  /** Keys like `parameters/blocks.0.attn.qkv.weight` or `gradients/…`. */
  values: Record<string, Histogram>;
}

export interface EpochEndEvent {
  epoch: number;
  globalStep: number;
  metrics: Record<string, number>;
}

export interface EvalStartEvent {
  stage: EvalStage;
  epoch: number;
  globalStep: number;
  batches: number;
}

export interface EvalBatchEndEvent extends StepResultEvent {
  stage: EvalStage;
}

export interface EvalEndEvent {
  stage: EvalStage;
  epoch: number;
  globalStep: number;
  metrics: Record<string, number>;
}

export interface StopEvent {
  epoch: number;
  globalStep: number;
  metrics: Record<string, number>;
}

export type FitStatus = 'completed' | 'stopped' | 'interrupted' | 'failed';

export interface FitEndEvent {
  epoch: number;
  globalStep: number;
  status: FitStatus;
  reason?: string;
  metrics: Record<string, number>;
}

export interface ExceptionEvent {
  error: Error;
  stage: RunStage;
}

export interface TeardownEvent {
  status: FitStatus;
}

/**
 * Every lifecycle hook of a run, in the order they fire. The hook type follows from what the
 * hook means: phase boundaries are async series, hot per-step notifications are sync (the
 * trainer checks `isUsed()` before building their payloads), decisions are bail hooks,
 * transformations are waterfalls and fan-out to loggers is parallel.
 */
export function createLifecycleHooks() {
  return Object.freeze({
    setup: new AsyncSeriesHook<[SetupEvent]>(['event']),
    fitStart: new AsyncSeriesHook<[FitStartEvent]>(['event']),
    trainEpochStart: new AsyncSeriesHook<[EpochStartEvent]>(['event']),
    /** Return true to skip this batch. */
    trainBatchStart: new SyncBailHook<[BatchEvent], boolean | void>(['event']),
    /** Transform the batch before it reaches the task (return the batch; dispose what you replace). */
    transformBatch: new SyncWaterfallHook<[Batch, BatchEvent]>(['batch', 'event']),
    beforeBackward: new SyncHook<[BackwardEvent]>(['event']),
    afterBackward: new SyncHook<[GradientsEvent]>(['event']),
    beforeOptimizerStep: new SyncHook<[OptimizerStepEvent]>(['event']),
    trainBatchEnd: new AsyncSeriesHook<[StepResultEvent]>(['event']),
    trainEpochEnd: new AsyncSeriesHook<[EpochEndEvent]>(['event']),
    validationStart: new AsyncSeriesHook<[EvalStartEvent]>(['event']),
    validationBatchEnd: new AsyncSeriesHook<[EvalBatchEndEvent]>(['event']),
    validationEnd: new AsyncSeriesHook<[EvalEndEvent]>(['event']),
    testStart: new AsyncSeriesHook<[EvalStartEvent]>(['event']),
    testBatchEnd: new AsyncSeriesHook<[EvalBatchEndEvent]>(['event']),
    testEnd: new AsyncSeriesHook<[EvalEndEvent]>(['event']),
    metrics: new AsyncParallelHook<[MetricsEvent]>(['event']),
    media: new AsyncParallelHook<[MediaEvent]>(['event']),
    histograms: new AsyncParallelHook<[HistogramsEvent]>(['event']),
    /** Return a reason to stop training after this epoch. */
    shouldStop: new SyncBailHook<[StopEvent], string | void>(['event']),
    /** Each stateful plugin adds its part to the state and returns it. */
    saveCheckpoint: new AsyncSeriesWaterfallHook<[CheckpointState]>(['state']),
    loadCheckpoint: new AsyncSeriesHook<[CheckpointState]>(['state']),
    fitEnd: new AsyncSeriesHook<[FitEndEvent]>(['event']),
    exception: new AsyncSeriesHook<[ExceptionEvent]>(['event']),
    teardown: new AsyncSeriesHook<[TeardownEvent]>(['event']),
  });
}

export type LifecycleHooks = ReturnType<typeof createLifecycleHooks>;
export type HookName = keyof LifecycleHooks;

type TapOnly<H> = Pick<H, Extract<keyof H, 'tap' | 'tapAsync' | 'tapPromise' | 'isUsed'>>;

/** What plugins see of the hooks: they tap, only the core calls. */
export type HookView = { readonly [K in HookName]: TapOnly<LifecycleHooks[K]> };
