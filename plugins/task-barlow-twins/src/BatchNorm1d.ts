import * as tf from '@tensorflow/tfjs';
import { Module } from '@bt-platform/sdk';

/**
 * nn.BatchNorm1d over [B, C]: batch statistics (biased variance) in training, where the running
 * statistics move by `momentum` (unbiased variance, as PyTorch); running statistics in eval mode.
 */
export class BatchNorm1d extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  readonly runningMean: tf.Variable;
  readonly runningVar: tf.Variable;
  readonly numBatchesTracked: tf.Variable;

  constructor(
    readonly features: number,
    readonly eps = 1e-5,
    readonly momentum = 0.1,
  ) {
    super();
    this.weight = this.registerParameter('weight', tf.ones([features]));
    this.bias = this.registerParameter('bias', tf.zeros([features]));
    this.runningMean = this.registerBuffer('running_mean', tf.zeros([features]));
    this.runningVar = this.registerBuffer('running_var', tf.ones([features]));
    this.numBatchesTracked = this.registerBuffer('num_batches_tracked', tf.scalar(0, 'int32'));
  }

  forward(x: tf.Tensor2D): tf.Tensor2D {
    if (!this.training) {
      return tf.add(tf.mul(tf.div(tf.sub(x, this.runningMean), tf.sqrt(tf.add(this.runningVar, this.eps))), this.weight), this.bias) as tf.Tensor2D;
    }
    const n = x.shape[0];
    const { mean, variance } = tf.moments(x, 0);
    // Running statistics are bookkeeping off the loss's path, so no gradient flows through them.
    tf.tidy(() => {
      const unbiased = tf.mul(variance, n / Math.max(1, n - 1));
      this.runningMean.assign(tf.add(tf.mul(this.runningMean, 1 - this.momentum), tf.mul(mean, this.momentum)));
      this.runningVar.assign(tf.add(tf.mul(this.runningVar, 1 - this.momentum), tf.mul(unbiased, this.momentum)));
      this.numBatchesTracked.assign(tf.add(this.numBatchesTracked, tf.scalar(1, 'int32')));
    });
    const normalised = tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, this.eps)));
    return tf.add(tf.mul(normalised, this.weight), this.bias) as tf.Tensor2D;
  }
}
