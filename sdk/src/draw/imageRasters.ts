import * as tf from '@tensorflow/tfjs';
import type { Raster } from './Figure.js';

export interface Normalization {
  mean: readonly number[];
  std: readonly number[];
}

/**
 * The first `count` images of an NHWC batch as RGB rasters, de-normalised with the datamodule's
 * mean and std (images without a normalisation are taken to be in [0, 1]).
 */
export function imageRasters(images: tf.Tensor, count: number, normalization?: Normalization): Raster[] {
  const [, height, width, channels] = images.shape;
  const n = Math.min(count, images.shape[0]);
  const data = tf.tidy(() => images.slice([0, 0, 0, 0], [n, height, width, channels]).toFloat().dataSync());
  const mean = normalization?.mean ?? [0, 0, 0];
  const std = normalization?.std ?? [1, 1, 1];
  return Array.from({ length: n }, (_, i) => {
    const out = new Uint8Array(height * width * 3);
    for (let p = 0; p < height * width; p++) {
      for (let c = 0; c < 3; c++) {
        const ch = Math.min(c, channels - 1);
        const value = data[(i * height * width + p) * channels + ch] * (std[ch] ?? 1) + (mean[ch] ?? 0);
        out[p * 3 + c] = Math.round(Math.min(1, Math.max(0, value)) * 255);
      }
    }
    return { data: out, width, height };
  });
}
