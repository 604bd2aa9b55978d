import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import type { Batch, BatchStream, DataModule, SplitCounts, StepOutput, Task } from '../components.js';
import { Module } from '../module.js';
import { definePlugin } from '../plugin.js';
import { Rng } from '../rng.js';
import { Slots } from '../slots.js';
import { toyImagesComponent } from './ToyImageDataModule.js';

/** y = x·w + b, in PyTorch's nn.Linear layout when saved. */
export class ToyLinear extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;

  constructor(inFeatures: number, outFeatures: number, seed: number) {
    super();
    this.weight = this.registerParameter('weight', tf.randomNormal([inFeatures, outFeatures], 0, 0.1, 'float32', seed), 'linear');
    this.bias = this.registerParameter('bias', tf.zeros([outFeatures]));
  }

  forward(x: tf.Tensor2D): tf.Tensor2D {
    return tf.add(tf.matMul(x, this.weight), this.bias) as tf.Tensor2D;
  }
}

export class ToyModel extends Module {
  readonly fc1: ToyLinear;
  readonly fc2: ToyLinear;

  constructor(features: number, hidden: number, seed: number) {
    super();
    this.fc1 = this.registerModule('fc1', new ToyLinear(features, hidden, seed));
    this.fc2 = this.registerModule('fc2', new ToyLinear(hidden, 1, seed + 1));
  }

  forward(x: tf.Tensor2D): tf.Tensor2D {
    return this.fc2.call(tf.relu(this.fc1.call(x)));
  }
}

const toyDataOptions = z.strictObject({
  samples: z.number().int().positive().default(64),
  valSamples: z.number().int().positive().default(32),
  features: z.number().int().positive().default(4),
  batchSize: z.number().int().positive().default(8),
  /** Drop the last incomplete training batch (validation batches are never dropped). */
  dropLast: z.boolean().default(true),
  /** Make the target NaN from this global sample index on (to test non-finite loss handling). */
  nanFrom: z.number().int().nonnegative().optional(),
  /**
   * Treat samples from this global index on (training samples first, then validation) as unusable,
   * like corrupt images: they are left out of their batches, and a batch left empty is not yielded.
   */
  unusableFrom: z.number().int().nonnegative().optional(),
});

/** A regression problem y = x·w* + noise whose batches depend only on the seed and the epoch. */
export class ToyDataModule implements DataModule {
  private readonly x: Float32Array;
  private readonly y: Float32Array;

  constructor(
    private readonly options: z.output<typeof toyDataOptions>,
    private readonly rng: Rng,
  ) {
    const { samples, valSamples, features } = options;
    const total = samples + valSamples;
    const truth = new Rng(12345);
    const w = Array.from({ length: features }, () => truth.normal());
    this.x = new Float32Array(total * features);
    this.y = new Float32Array(total);
    for (let i = 0; i < total; i++) {
      let y = 0.5;
      for (let j = 0; j < features; j++) {
        const v = truth.normal();
        this.x[i * features + j] = v;
        y += v * w[j];
      }
      this.y[i] = options.nanFrom !== undefined && i >= options.nanFrom ? NaN : y + 0.01 * truth.normal();
    }
  }

  private usable(sample: number): boolean {
    return this.options.unusableFrom === undefined || sample < this.options.unusableFrom;
  }

  private stream(indices: number[], startBatch: number, dropLast: boolean): BatchStream {
    const { batchSize, features } = this.options;
    const batches: number[][] = [];
    for (let i = 0; i < indices.length; i += batchSize) {
      const batch = indices.slice(i, i + batchSize);
      if (batch.length < batchSize && dropLast) break;
      batches.push(batch);
    }
    const todo = batches.slice(startBatch);
    const x = this.x;
    const y = this.y;
    const usable = (s: number) => this.usable(s);
    return {
      length: todo.length,
      async *[Symbol.asyncIterator]() {
        for (const planned of todo) {
          const idx = planned.filter(usable);
          if (idx.length === 0) continue;
          const xb = new Float32Array(idx.length * features);
          const yb = new Float32Array(idx.length);
          idx.forEach((s, k) => {
            xb.set(x.subarray(s * features, (s + 1) * features), k * features);
            yb[k] = y[s];
          });
          yield { x: tf.tensor2d(xb, [idx.length, features]), y: tf.tensor2d(yb, [idx.length, 1]) } as Batch;
        }
      },
    };
  }

  trainBatches(epoch: number, startBatch = 0): BatchStream {
    const order = this.rng.fork('epoch', epoch).shuffle(Array.from({ length: this.options.samples }, (_, i) => i));
    return this.stream(order, startBatch, this.options.dropLast);
  }

  valBatches(): BatchStream {
    const { samples, valSamples } = this.options;
    return this.stream(Array.from({ length: valSamples }, (_, i) => samples + i), 0, false);
  }

  testBatches(): BatchStream {
    return this.valBatches();
  }

  counts(split: 'train' | 'val' | 'test'): SplitCounts {
    const { samples, valSamples, batchSize, dropLast } = this.options;
    const [first, listed] = split === 'train' ? [0, samples] : [samples, valSamples];
    let skipped = 0;
    for (let i = first; i < first + listed; i++) if (!this.usable(i)) skipped++;
    return { listed, skipped, batchSize, dropLast: split === 'train' && dropLast };
  }
}

const toyTaskOptions = z.strictObject({
  hidden: z.number().int().positive().default(8),
  features: z.number().int().positive().default(4),
});

/** Mean squared error on the toy regression problem; logs mean absolute error per epoch. */
export class ToyTask implements Task {
  readonly model: ToyModel;
  private absErrorSum = 0;
  private count = 0;

  constructor(options: z.output<typeof toyTaskOptions>, seed: number) {
    this.model = new ToyModel(options.features, options.hidden, seed);
  }

  private step(batch: Batch, track: boolean): StepOutput {
    const prediction = this.model.call(batch.x as tf.Tensor2D);
    const error = tf.sub(prediction, batch.y);
    if (track) {
      this.absErrorSum += tf.sum(tf.abs(error)).dataSync()[0];
      this.count += error.size;
    }
    return { loss: tf.mean(tf.square(error)) as tf.Scalar, outputs: { prediction } };
  }

  trainingStep(batch: Batch): StepOutput {
    return this.step(batch, false);
  }

  validationStep(batch: Batch): StepOutput {
    return this.step(batch, true);
  }

  testStep(batch: Batch): StepOutput {
    return this.step(batch, true);
  }

  epochMetrics(stage: 'train' | 'val' | 'test'): Record<string, number> {
    if (stage === 'train' || this.count === 0) return {};
    const mae = this.absErrorSum / this.count;
    this.absErrorSum = 0;
    this.count = 0;
    return { mae };
  }
}

/**
 * Registers the `toy` datamodule and the `toy-regression` task (a model that trains in milliseconds),
 * and the `toy-images` datamodule for testing backbones and heads with the built-in tasks.
 */
export const toyPlugin = definePlugin({
  name: 'toy',
  description: 'A toy regression datamodule and task, and tiny synthetic images, for tests and smoke runs.',
  register(registrar) {
    registrar.component(Slots.datamodule, toyImagesComponent);
    registrar.component(Slots.datamodule, {
      name: 'toy',
      description: 'Synthetic linear-regression samples.',
      options: toyDataOptions,
      declares: { yields: ['x', 'y'] },
      create: (options, ctx) => new ToyDataModule(options, ctx.rng),
    });
    registrar.component(Slots.task, {
      name: 'toy-regression',
      description: 'A two-layer MLP trained with mean squared error.',
      options: toyTaskOptions,
      declares: { batch: ['x', 'y'], epochMetrics: { val: ['mae'], test: ['mae'] }, outputs: ['prediction'] },
      create: (options, ctx) => new ToyTask(options, ctx.rng.tfSeed()),
    });
  },
});
