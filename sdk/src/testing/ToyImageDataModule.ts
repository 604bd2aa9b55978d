import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import type { Batch, BatchStream, DataModule } from '../components.js';
import { ConfigError } from '../errors.js';
import { defineComponent } from '../plugin.js';
import { Rng } from '../rng.js';

/** Class 0 is the background; every other class is a square of its own colour. */
const CLASSES = [
  { name: 'background', rgb: [0, 0, 0] },
  { name: 'red', rgb: [220, 40, 40] },
  { name: 'green', rgb: [40, 200, 60] },
  { name: 'blue', rgb: [40, 80, 220] },
  { name: 'yellow', rgb: [230, 210, 40] },
  { name: 'magenta', rgb: [200, 60, 200] },
  { name: 'cyan', rgb: [40, 200, 210] },
] as const;

export const toyImageOptions = z.strictObject({
  /** `segmentation` yields `{ image, mask }`; `barlow-twins` yields two augmented views `{ view1, view2 }`. */
  mode: z.enum(['segmentation', 'barlow-twins']).default('segmentation'),
  samples: z.number().int().positive().default(32),
  valSamples: z.number().int().positive().default(16),
  /** Side of the square images. */
  imageSize: z.number().int().min(4).default(16),
  batchSize: z.number().int().positive().default(8),
  /** Classes including the background. */
  numClasses: z.number().int().min(2).max(CLASSES.length).default(3),
});

export type ToyImageOptions = z.output<typeof toyImageOptions>;

const MEAN = [0.5, 0.5, 0.5];
const STD = [0.5, 0.5, 0.5];

/**
 * Tiny synthetic images for testing backbones, heads and image callbacks in seconds: a noisy dark
 * background with one coloured square whose colour is its class. Images are NHWC float32,
 * normalised with mean = std = 0.5; masks are int32 [B, H, W]. The samples derive from the run's
 * seed, the training order and the views from the seed and the epoch. The last incomplete training
 * batch is dropped (Barlow Twins' batch norm needs full batches); validation keeps it.
 */
export class ToyImageDataModule implements DataModule {
  readonly numClasses: number;
  readonly classNames: readonly string[];
  readonly palette: ReadonlyArray<readonly [number, number, number]>;
  readonly imageSize: number;
  readonly normalization = { mean: MEAN, std: STD };
  private readonly images: Float32Array;
  private readonly masks: Int32Array;

  constructor(
    private readonly options: ToyImageOptions,
    private readonly rng: Rng,
  ) {
    const { samples, batchSize, imageSize, numClasses, mode } = options;
    if (samples < batchSize || (mode === 'barlow-twins' && batchSize < 2)) {
      throw new ConfigError('CONFIG_INVALID', `data (toy-images): ${samples} training samples in batches of ${batchSize} make no full training batch${batchSize < 2 ? ' of at least 2 (batch norm needs 2)' : ''}.`, {
        hint: 'Raise data.samples or lower data.batchSize (2 or more in barlow-twins mode).',
      });
    }
    this.numClasses = numClasses;
    this.classNames = CLASSES.slice(0, numClasses).map((c) => c.name);
    this.palette = CLASSES.slice(0, numClasses).map((c) => c.rgb);
    this.imageSize = imageSize;
    const total = samples + options.valSamples;
    const pixels = imageSize * imageSize;
    this.images = new Float32Array(total * pixels * 3);
    this.masks = new Int32Array(total * pixels);
    const draw = rng.fork('samples');
    for (let i = 0; i < total; i++) this.drawSample(i, draw);
  }

  private drawSample(index: number, rng: Rng): void {
    const { imageSize: size, numClasses } = this.options;
    const cls = 1 + rng.int(numClasses - 1);
    const side = Math.max(2, Math.round(size * rng.uniform(0.3, 0.6)));
    const top = rng.int(size - side + 1);
    const left = rng.int(size - side + 1);
    const background = [0, 1, 2].map(() => rng.uniform(0.05, 0.3));
    const colour = CLASSES[cls].rgb.map((v) => v / 255);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const pixel = index * size * size + y * size + x;
        const inside = y >= top && y < top + side && x >= left && x < left + side;
        this.masks[pixel] = inside ? cls : 0;
        for (let c = 0; c < 3; c++) {
          const value = (inside ? colour[c] : background[c]) + rng.normal(0, 0.05);
          this.images[pixel * 3 + c] = (value - MEAN[c]) / STD[c];
        }
      }
    }
  }

  /** Batches of sample indices; `augment` gives each batch its own random stream for the two views. */
  private stream(indices: number[], startBatch: number, dropLast: boolean, augment: (batch: number) => Rng): BatchStream {
    const { batchSize } = this.options;
    const batches: number[][] = [];
    for (let i = 0; i < indices.length; i += batchSize) {
      const batch = indices.slice(i, i + batchSize);
      if (batch.length < batchSize && dropLast) break;
      batches.push(batch);
    }
    const todo = batches.slice(startBatch);
    const build = (idx: number[], k: number) => this.batch(idx, augment(startBatch + k));
    return {
      length: todo.length,
      async *[Symbol.asyncIterator]() {
        for (const [k, idx] of todo.entries()) yield build(idx, k);
      },
    };
  }

  private batch(indices: number[], rng: Rng): Batch {
    const size = this.options.imageSize;
    const shape: [number, number, number, number] = [indices.length, size, size, 3];
    if (this.options.mode === 'barlow-twins') {
      return { view1: tf.tensor4d(this.views(indices, rng), shape), view2: tf.tensor4d(this.views(indices, rng), shape) };
    }
    const pixels = size * size;
    const image = new Float32Array(indices.length * pixels * 3);
    const mask = new Int32Array(indices.length * pixels);
    indices.forEach((s, k) => {
      image.set(this.images.subarray(s * pixels * 3, (s + 1) * pixels * 3), k * pixels * 3);
      mask.set(this.masks.subarray(s * pixels, (s + 1) * pixels), k * pixels);
    });
    return { image: tf.tensor4d(image, shape), mask: tf.tensor3d(mask, [indices.length, size, size], 'int32') };
  }

  /** One augmented view per sample: a random horizontal flip, a brightness shift and pixel noise. */
  private views(indices: number[], rng: Rng): Float32Array {
    const size = this.options.imageSize;
    const pixels = size * size;
    const out = new Float32Array(indices.length * pixels * 3);
    indices.forEach((s, k) => {
      const flip = rng.bernoulli(0.5);
      const shift = rng.uniform(-0.2, 0.2);
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          const from = (s * pixels + y * size + (flip ? size - 1 - x : x)) * 3;
          const to = (k * pixels + y * size + x) * 3;
          for (let c = 0; c < 3; c++) out[to + c] = this.images[from + c] + shift + rng.normal(0, 0.1);
        }
      }
    });
    return out;
  }

  trainBatches(epoch: number, startBatch = 0): BatchStream {
    const order = this.rng.fork('epoch', epoch).shuffle(Array.from({ length: this.options.samples }, (_, i) => i));
    return this.stream(order, startBatch, true, (batch) => this.rng.fork('views', epoch, batch));
  }

  valBatches(): BatchStream {
    const { samples, valSamples } = this.options;
    return this.stream(Array.from({ length: valSamples }, (_, i) => samples + i), 0, false, (batch) => this.rng.fork('val-views', batch));
  }

  testBatches(): BatchStream {
    return this.valBatches();
  }
}

/** The `toy-images` datamodule component (registered by the SDK's toy plugin). */
export const toyImagesComponent = defineComponent({
  name: 'toy-images',
  description: 'Tiny synthetic images (a coloured square per image) for segmentation or Barlow Twins tests.',
  options: toyImageOptions,
  declares: (options) => ({
    yields: options.mode === 'barlow-twins' ? ['view1', 'view2'] : ['image', 'mask'],
    alternatives: [
      { set: { mode: 'barlow-twins' }, yields: ['view1', 'view2'] },
      { set: { mode: 'segmentation' }, yields: ['image', 'mask'] },
    ],
  }),
  create: (options, ctx) => new ToyImageDataModule(options, ctx.rng),
});
