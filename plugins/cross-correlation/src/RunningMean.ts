import * as tf from '@tensorflow/tfjs';

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

  /** The mean so far (undefined before the first value) and its shape; resets the series. */
  take(): { values: Float32Array; shape: number[]; count: number } | undefined {
    if (!this.sum) return undefined;
    const sum = this.sum;
    const mean = tf.tidy(() => tf.div(sum, this.count));
    const out = { values: mean.dataSync() as Float32Array, shape: sum.shape, count: this.count };
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
