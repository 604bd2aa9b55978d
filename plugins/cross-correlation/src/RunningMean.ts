import * as tf from '@tensorflow/tfjs';
import { diagonalStats } from './diagonalStats.js';

/**
 * Mean of a series of same-shaped tensors, kept as one running sum on the backend so that a
 * step costs one addition and no read-back; the tensor count stays constant across steps.
 */
export class RunningMean {
  private sum: tf.Tensor | undefined;
  count = 0;

  add(value: tf.Tensor): void {
    const previous = this.sum;
    if (previous && !tf.util.arraysEqual(previous.shape, value.shape)) {
      throw new Error(`RunningMean: shape [${value.shape}] differs from the earlier [${previous.shape}]`);
    }
    this.sum = tf.keep(tf.tidy(() => (previous ? tf.add(previous, value.toFloat()) : value.toFloat().clone())));
    previous?.dispose();
    this.count++;
  }

  /**
   * The mean so far (undefined before the first value) and its shape; resets the series. A
   * matrix wider than `maxSide` whose side it divides evenly into blocks is first averaged block
   * by block on the backend (`block` says how many cells per side), so a large one is never read
   * back whole. The diagonal statistics are those of the full mean, before any averaging.
   */
  take(maxSide = Infinity): { values: Float32Array; shape: number[]; count: number; block: number; diagonal: number; offDiagonal: number } | undefined {
    if (!this.sum) return undefined;
    const sum = this.sum;
    const [rows, columns] = sum.shape;
    const block = sum.rank === 2 && rows > maxSide ? Math.ceil(rows / maxSide) : 1;
    const pooled = block > 1 && rows % block === 0 && columns % block === 0 ? block : 1;
    const mean = tf.tidy(() => {
      const m = tf.div(sum, this.count);
      if (pooled === 1) return m;
      return tf.mean(tf.reshape(m, [rows / pooled, pooled, columns / pooled, pooled]), [1, 3]);
    });
    const stats = rows === columns ? tf.tidy(() => diagonalStats(tf.div(sum, this.count))) : { diagonal: NaN, offDiagonal: NaN };
    const out = { values: mean.dataSync() as Float32Array, shape: mean.shape, count: this.count, block: pooled, ...stats };
    mean.dispose();
    this.reset();
    return out;
  }

  reset(): void {
    this.sum?.dispose();
    this.sum = undefined;
    this.count = 0;
  }
}
