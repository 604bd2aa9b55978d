import type * as tf from '@tensorflow/tfjs';
import type { BtError } from './errors.js';
import type { HookView, NamedTensors, RunStage } from './hooks.js';
import type { Module } from './module.js';
import type { RawTensor } from './safetensors.js';
import type { SlotKey } from './slots.js';

/** A batch is a set of named tensors, e.g. `{ image, mask }` or `{ view1, view2 }` (images NHWC float32). */
export type Batch = Record<string, tf.Tensor>;

export interface BackendInfo {
  /** The tfjs backend name in use, e.g. `tensorflow`, `wasm`, `cpu`. */
  name: string;
  device: 'cpu' | 'gpu';
  /** Why this backend was chosen and why others were skipped. */
  detail: string;
}

/** Where a run stood when it failed: the trainer's position (the batch is the training batch of the epoch). */
export interface FailurePlace {
  stage: RunStage;
  epoch: number;
  batch: number;
  globalStep: number;
}

/** The `backend` slot: creating it initialises tfjs. */
export interface Backend {
  readonly info: BackendInfo;
  /**
   * A failure the backend recognises as its own (running out of memory) rewritten as an error that
   * says what to change; undefined for any other. The core's failure path asks before reporting.
   */
  describeError?(error: unknown, place: FailurePlace): BtError | undefined;
  /** Tensor memory as the backend itself counts it (the wasm heap), where it can; undefined elsewhere. */
  memory?(): BackendMemory | undefined;
  /** Starts a new `memory().peak` at the bytes held now (e.g. before a training step). */
  resetMemoryPeak?(): void;
}

/**
 * Whether the backend keeps every tensor in one capped heap (the 4 GB wasm heap of `wasm` and
 * `native`): it is the backend that counts its own memory. What can wait outside it between steps
 * (optimizer state, accumulated gradients) then does.
 */
export function hasCappedHeap(backend: Backend): boolean {
  return backend.memory?.() !== undefined;
}

export interface BackendMemory {
  /** Bytes of tensor data held now. */
  live: number;
  /** The most `live` has been since the last reset. */
  peak: number;
  /** The hard limit on `live` (the 4 GB wasm heap). */
  limit: number;
}

/** An epoch's worth of batches. The consumer disposes each batch's tensors. */
export interface BatchStream extends AsyncIterable<Batch> {
  /** Batches this stream yields. */
  readonly length: number;
  /** Stops prefetching and releases workers; safe to call twice. */
  close?(): Promise<void>;
}

/** What a split holds, so that a split yielding no batch can be reported with its numbers. */
export interface SplitCounts {
  /** Samples the split lists. */
  listed: number;
  /** Listed samples skipped so far as unusable (corrupt, unreadable). */
  skipped: number;
  batchSize: number;
  /** Whether an incomplete last batch is dropped. */
  dropLast: boolean;
}

/** The `datamodule` slot. Randomness must derive from the run's seed and the epoch, so that a resumed run sees the same batches. */
export interface DataModule {
  readonly numClasses?: number;
  /** Class names, index = class id. */
  readonly classNames?: readonly string[];
  /** RGB colour of each class id, for drawing masks (VOC's palette for VOC). */
  readonly palette?: ReadonlyArray<readonly [number, number, number]>;
  /** Label value that marks pixels to ignore in losses and metrics (VOC: 255). */
  readonly ignoreIndex?: number;
  /** Side of the square model input the batches are resized to (inference resizes the same way). */
  readonly imageSize?: number;
  /** Per-channel mean and std the images were normalised with, so callbacks can de-normalise them. */
  readonly normalization?: { mean: readonly number[]; std: readonly number[] };
  setup?(stage: 'fit' | 'validate' | 'test'): Promise<void>;
  /** The training batches of `epoch`, starting at batch `startBatch` (used when resuming mid-epoch). */
  trainBatches(epoch: number, startBatch?: number): BatchStream;
  valBatches(): BatchStream;
  testBatches?(): BatchStream;
  /** The sizes behind a split's batches (after setup); the trainer quotes them when a split yields no batch. */
  counts?(split: 'train' | 'val' | 'test'): SplitCounts;
  /** Persisted in checkpoints; keep it JSON. */
  state?(): unknown;
  loadState?(state: unknown): void;
  teardown?(): Promise<void>;
}

/** What a backbone produces for an NHWC image batch. */
export interface BackboneFeatures {
  /** [B, C]: the CLS token (ViT) or the globally pooled feature map (CNN). */
  pooled: tf.Tensor2D;
  /** [B, h, w, C]: patch tokens on their grid (ViT) or the last feature map (CNN). */
  featureMap: tf.Tensor4D;
  /** [B, 1 + N, C] for ViTs: every token, CLS first. */
  tokens?: tf.Tensor3D;
  /** Intermediate feature maps [B, h, w, C] for multi-level heads, shallowest first. */
  intermediates?: tf.Tensor4D[];
}

/** The `backbone` slot. */
export interface Backbone extends Module {
  readonly kind: 'vit' | 'cnn';
  /** Channels of `pooled` and `featureMap`. */
  readonly featureDim: number;
  /** Input pixels per feature-map cell along one side (patch size, or the CNN's output stride). */
  readonly stride: number;
  forward(images: tf.Tensor4D): BackboneFeatures;
}

/** The `head` slot: turns backbone features into per-pixel logits [B, H, W, classes]. */
export interface Head extends Module {
  forward(features: BackboneFeatures, imageSize: [number, number]): tf.Tensor4D;
}

export interface StepOutput {
  loss: tf.Scalar;
  /** Scalars to log for this step, keyed without the stage prefix (e.g. `diag_mean`). */
  logs?: Record<string, tf.Scalar>;
  /** Tensors for callbacks (e.g. `logits`, `crossCorrelation`); alive until the batch-end hooks return. */
  outputs?: NamedTensors;
}

export interface StepContext {
  epoch: number;
  batchIdx: number;
  globalStep: number;
  training: boolean;
}

/** The `task` slot: owns the model, the forward pass, the loss and the epoch metrics. */
export interface Task {
  readonly model: Module;
  /** Called before each training epoch's first batch (a resumed epoch included), after the model is put in training mode. */
  startEpoch?(epoch: number): void;
  /** Runs inside a gradient tape and a tidy: build the loss from the batch, synchronously. */
  trainingStep(batch: Batch, ctx: StepContext): StepOutput;
  validationStep(batch: Batch, ctx: StepContext): StepOutput;
  testStep?(batch: Batch, ctx: StepContext): StepOutput;
  /** Metrics accumulated over the epoch's steps (then reset), without the stage prefix. */
  epochMetrics?(stage: 'train' | 'val' | 'test'): Record<string, number>;
}

/** The `optimizer` slot. */
export interface Optimizer {
  readonly lr: number;
  /** Applies one update to the named variables with the given gradients at learning rate `lr`. */
  step(variables: Record<string, tf.Variable>, grads: NamedTensors, lr: number): void;
  /** Optimizer state (moments, step counts) for checkpoints. */
  state(): { tensors: Record<string, RawTensor>; json: unknown };
  loadState(state: { tensors: Record<string, RawTensor>; json: unknown }): void;
  /**
   * Asked by the core on a backend whose tensors share a capped heap (the 4 GB wasm heap): keep
   * per-parameter state (moments, momentum) in host memory between steps. Optional.
   */
  keepStateOnHost?(): void;
  /**
   * Called once by the core before the first step with every parameter of the model by name,
   * frozen ones included (a `step` may see only some of them, e.g. while `freezeBackboneEpochs`
   * holds the backbone). Optional: for checks of per-parameter options against the names.
   */
  attach?(parameters: Record<string, tf.Variable>): void;
  dispose?(): void;
}

export interface ScheduleContext {
  step: number;
  epoch: number;
  stepsPerEpoch: number;
  maxEpochs: number;
  maxSteps: number;
}

/** The `lrSchedule` slot: the learning rate at an optimizer step. */
export interface LrSchedule {
  lr(baseLr: number, at: ScheduleContext): number;
}

/** The `callback` and `logger` slots: objects that tap hooks. */
export interface Callback {
  apply(hooks: HookView): void | Promise<void>;
}

export type Logger = Callback;

/*
 * Declarations: what a component needs and provides, known from its options before anything is
 * built, so that `validate` and `run` refuse an incompatible config before the first stage starts.
 * A component without a declaration takes no part in the checks that need it.
 */

/** What a backbone's `forward` returns. */
export interface BackboneOutputs {
  kind: 'vit' | 'cnn';
  /** `tokens` ([B, 1 + N, C], CLS first) is returned. */
  tokens: boolean;
  /** `featureMap` is a spatial map of features (every backbone has one). */
  featureMap: boolean;
  /** Length of `intermediates` (0 when none). */
  intermediates: number;
  /** Input pixels per feature-map cell, when the options fix it. */
  stride?: number;
  /** Self-attention probabilities observable through modules named `blocks.<i>.attn.probs`. */
  attention?: boolean;
  /**
   * Layers normalise with the batch's statistics while training (BatchNorm), so a sample's output
   * depends on the other samples of its batch (`Module.mixesSamples()` at run time).
   */
  batchStatistics?: boolean;
}

export interface BackboneDeclaration {
  provides: BackboneOutputs;
}

/** What a head reads from the backbone's outputs; every key given must be met. */
export interface HeadNeeds {
  tokens?: boolean;
  featureMap?: boolean;
  /** Exactly this many intermediate feature maps. */
  intermediates?: number;
  /** Backbone strides the head can upsample from. */
  strides?: readonly number[];
}

export interface HeadDeclaration {
  needs: HeadNeeds;
}

/** Names of scalars `epochMetrics(stage)` returns, without the stage prefix; `*` stands for one name part (`IoU/*`). */
export type EpochMetricNames = Partial<Record<'train' | 'val' | 'test', readonly string[]>>;

export interface TaskDeclaration {
  /** Batch entries every step reads, e.g. `['view1', 'view2']`. */
  batch: readonly string[];
  /** Keys of `StepOutput.logs`: the trainer logs them as `train/<key>` per step and `val/<key>` averaged per validation. */
  logs?: readonly string[];
  epochMetrics?: EpochMetricNames;
  /** Keys of `StepOutput.outputs` that callbacks may read. */
  outputs?: readonly string[];
  /** Other slots the task resolves, e.g. `['backbone', 'head']`. */
  uses?: readonly SlotKey[];
  /**
   * Set when an option makes the task run several inputs through the backbone as one batch, which
   * a backbone with `batchStatistics` does not allow: the option and its value, e.g.
   * `{ option: 'views', value: 'joint' }`.
   */
  jointBackbonePass?: { option: string; value: string };
}

export interface DataModuleDeclaration {
  /** Entries of every batch, e.g. `['image', 'mask']`. */
  yields: readonly string[];
  /** Other settings of this datamodule's options and what they yield, so an error can name the setting to change. */
  alternatives?: ReadonlyArray<{ set: Readonly<Record<string, unknown>>; yields: readonly string[] }>;
}

export interface BackendDeclaration {
  /** Set when the backend cannot load here (e.g. its npm package is not installed): why, and how to fix it. */
  unavailable?: { reason: string; fix: string };
}

/** A metric a callback reads, the option that names it, and when it is read. */
export interface MetricRead {
  option: string;
  /** A metric name; `*` stands for one name part (`val/IoU/*`). */
  metric: string;
  /** Names the callback reads instead when `metric` is absent (e.g. the epoch mean `train/loss_epoch` of `train/loss`). */
  alternatives?: readonly string[];
  /** `validation`: the validation's metrics; `trainEpoch`: the training epoch's; `epoch`: either. */
  at: 'validation' | 'trainEpoch' | 'epoch';
  /** `warning` when a wrong name only shows less (a display), not a failed run. */
  severity?: 'error' | 'warning';
}

export interface CallbackDeclaration {
  needs?: {
    /** Slots that must be selected, e.g. `['backbone']`. */
    slots?: readonly SlotKey[];
    /** What the selected backbone must provide. */
    backbone?: Partial<Pick<BackboneOutputs, 'tokens' | 'featureMap' | 'attention'>>;
    /** Task outputs read from batch-end events. */
    outputs?: readonly string[];
    /** Batch entries read: each inner list names alternatives, one of which suffices. */
    batch?: ReadonlyArray<readonly string[]>;
  };
  reads?: readonly MetricRead[];
  /** Keys added to summary.json, which later pipeline stages can use as `${stages.<name>.<key>}`. */
  summary?: readonly string[];
}

/** The declaration type of a slot's component type. */
export type DeclarationOf<T> = T extends Backbone
  ? BackboneDeclaration
  : T extends Head
    ? HeadDeclaration
    : T extends Task
      ? TaskDeclaration
      : T extends DataModule
        ? DataModuleDeclaration
        : T extends Backend
          ? BackendDeclaration
          : T extends Callback
            ? CallbackDeclaration
            : Record<string, never>;

export type AnyDeclaration = BackboneDeclaration | HeadDeclaration | TaskDeclaration | DataModuleDeclaration | BackendDeclaration | CallbackDeclaration;
