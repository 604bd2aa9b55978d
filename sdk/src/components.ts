import type * as tf from '@tensorflow/tfjs';
import type { HookView, NamedTensors } from './hooks.js';
import type { Module } from './module.js';
import type { RawTensor } from './safetensors.js';

/** A batch is a set of named tensors, e.g. `{ image, mask }` or `{ view1, view2 }` (images NHWC float32). */
export type Batch = Record<string, tf.Tensor>;

export interface BackendInfo {
  /** The tfjs backend name in use, e.g. `tensorflow`, `wasm`, `cpu`. */
  name: string;
  device: 'cpu' | 'gpu';
  /** Why this backend was chosen and why others were skipped. */
  detail: string;
}

/** The `backend` slot: creating it initialises tfjs. */
export interface Backend {
  readonly info: BackendInfo;
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
