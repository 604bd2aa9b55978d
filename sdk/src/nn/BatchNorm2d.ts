import * as tf from '@tensorflow/tfjs';
import { BtError } from '../errors.js';
import { Module } from '../module.js';

/**
 * nn.BatchNorm2d on NHWC tensors: batch statistics while training, updating the running ones as
 * PyTorch does (momentum 0.1, unbiased variance, num_batches_tracked); running statistics in eval.
 */
export class BatchNorm2d extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  readonly running_mean: tf.Variable;
  readonly running_var: tf.Variable;
  readonly num_batches_tracked: tf.Variable;

  constructor(
    readonly features: number,
    readonly eps = 1e-5,
    readonly momentum = 0.1,
  ) {
    super();
    this.weight = this.registerParameter('weight', tf.ones([features]));
    this.bias = this.registerParameter('bias', tf.zeros([features]));
    this.running_mean = this.registerBuffer('running_mean', tf.zeros([features]));
    this.running_var = this.registerBuffer('running_var', tf.ones([features]));
    this.num_batches_tracked = this.registerBuffer('num_batches_tracked', tf.scalar(0, 'int32'));
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      let mean: tf.Tensor = this.running_mean;
      let variance: tf.Tensor = this.running_var;
      if (this.training) {
        ({ mean, variance } = tf.moments(x, [0, 1, 2]));
        const n = x.size / this.features;
        if (n < 2)
          throw new BtError('RUNTIME', `BatchNorm2d "${this.path}" needs more than one value per channel in training, got input [${x.shape}].`, {
            hint: 'Train with a batch size of at least 2 (PyTorch refuses this case too).',
          });
        const m = this.momentum;
        const batchMean = mean;
        const batchVar = variance;
        tf.tidy(() => {
          this.running_mean.assign(tf.add(tf.mul(this.running_mean, 1 - m), tf.mul(batchMean, m)));
          this.running_var.assign(tf.add(tf.mul(this.running_var, 1 - m), tf.mul(batchVar, (m * n) / (n - 1))));
          this.num_batches_tracked.assign(tf.add(this.num_batches_tracked, tf.scalar(1, 'int32')));
        });
      }
      const scale = tf.mul(tf.rsqrt(tf.add(variance, this.eps)), this.weight);
      return tf.add(tf.mul(tf.sub(x, mean), scale), this.bias) as tf.Tensor4D;
    });
  }
}
