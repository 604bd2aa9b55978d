import * as tf from '@tensorflow/tfjs';
import { Module } from '@bt-platform/sdk';

/**
 * nn.BatchNorm1d over [B, C]: batch statistics (biased variance) in training, where the running
 * statistics move by `momentum` (unbiased variance, as PyTorch); running statistics in eval mode.
 * Without `affine` it has no weight and bias, as the Barlow Twins loss's own `bn`.
 */
export class BatchNorm1d extends Module {
  readonly weight?: tf.Variable;
  readonly bias?: tf.Variable;
  readonly runningMean: tf.Variable;
  readonly runningVar: tf.Variable;
  readonly numBatchesTracked: tf.Variable;

  constructor(
    readonly features: number,
    readonly eps = 1e-5,
    readonly momentum = 0.1,
    readonly affine = true,
  ) {
    super();
    if (affine) {
      this.weight = this.registerParameter('weight', tf.ones([features]));
      this.bias = this.registerParameter('bias', tf.zeros([features]));
    }
    this.runningMean = this.registerBuffer('running_mean', tf.zeros([features]));
    this.runningVar = this.registerBuffer('running_var', tf.ones([features]));
    this.numBatchesTracked = this.registerBuffer('num_batches_tracked', tf.scalar(0, 'int32'));
  }

  private scale(normalised: tf.Tensor): tf.Tensor2D {
    return (this.weight && this.bias ? tf.add(tf.mul(normalised, this.weight), this.bias) : normalised) as tf.Tensor2D;
  }

  forward(x: tf.Tensor2D): tf.Tensor2D {
    if (!this.training) return this.scale(tf.div(tf.sub(x, this.runningMean), tf.sqrt(tf.add(this.runningVar, this.eps))));
    const { mean, variance } = tf.moments(x, 0);
    this.track(mean, variance, x.shape[0]);
    return this.scale(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, this.eps))));
  }

  /** Moves the running statistics towards a batch's mean and (biased) variance over `n` samples. */
  private track(mean: tf.Tensor, variance: tf.Tensor, n: number): void {
    // Running statistics are bookkeeping off the loss's path, so no gradient flows through them.
    tf.tidy(() => {
      const unbiased = tf.mul(variance, n / Math.max(1, n - 1));
      this.runningMean.assign(tf.add(tf.mul(this.runningMean, 1 - this.momentum), tf.mul(mean, this.momentum)));
      this.runningVar.assign(tf.add(tf.mul(this.runningVar, 1 - this.momentum), tf.mul(unbiased, this.momentum)));
      this.numBatchesTracked.assign(tf.add(this.numBatchesTracked, tf.scalar(1, 'int32')));
    });
  }
}
