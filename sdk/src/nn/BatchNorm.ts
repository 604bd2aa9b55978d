import * as tf from '@tensorflow/tfjs';
import { BtError } from '../errors.js';
import { Module } from '../module.js';

/**
 * Batch normalisation over the last (channel) axis of [B, C] or NHWC inputs: batch statistics
 * (biased variance) while training, moving the running ones as PyTorch does (momentum 0.1,
 * unbiased variance, num_batches_tracked); running statistics in eval. Without `affine` it has no
 * weight and bias (the Barlow Twins loss's own normalisation).
 */
export class BatchNorm extends Module {
  readonly weight?: tf.Variable;
  readonly bias?: tf.Variable;
  readonly running_mean: tf.Variable;
  readonly running_var: tf.Variable;
  readonly num_batches_tracked: tf.Variable;

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
    this.running_mean = this.registerBuffer('running_mean', tf.zeros([features]));
    this.running_var = this.registerBuffer('running_var', tf.ones([features]));
    this.num_batches_tracked = this.registerBuffer('num_batches_tracked', tf.scalar(0, 'int32'));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      let mean: tf.Tensor = this.running_mean;
      let variance: tf.Tensor = this.running_var;
      if (this.training) {
        ({ mean, variance } = tf.moments(x, x.shape.slice(0, -1).map((_, i) => i)));
        const n = x.size / this.features;
        if (n < 2)
          throw new BtError('RUNTIME', `${this.constructor.name} "${this.path}" needs more than one value per channel in training, got input [${x.shape}].`, {
            hint: 'Train with a batch size of at least 2 (PyTorch refuses this case too).',
          });
        this.track(mean, variance, n);
      }
      let scale = tf.rsqrt(tf.add(variance, this.eps));
      if (this.weight) scale = tf.mul(scale, this.weight);
      const out = tf.mul(tf.sub(x, mean), scale);
      return this.bias ? tf.add(out, this.bias) : out;
    });
  }

  /** Running statistics are bookkeeping off the loss's path, so no gradient flows through them. */
  private track(mean: tf.Tensor, variance: tf.Tensor, n: number): void {
    const m = this.momentum;
    tf.tidy(() => {
      this.running_mean.assign(tf.add(tf.mul(this.running_mean, 1 - m), tf.mul(mean, m)));
      this.running_var.assign(tf.add(tf.mul(this.running_var, 1 - m), tf.mul(variance, (m * n) / (n - 1))));
      this.num_batches_tracked.assign(tf.add(this.num_batches_tracked, tf.scalar(1, 'int32')));
    });
  }
}

/** nn.BatchNorm1d on [B, C]. */
export class BatchNorm1d extends BatchNorm {
  override forward(x: tf.Tensor2D): tf.Tensor2D {
    return super.forward(x) as tf.Tensor2D;
  }
}

/** nn.BatchNorm2d on NHWC tensors. */
export class BatchNorm2d extends BatchNorm {
  override forward(x: tf.Tensor4D): tf.Tensor4D {
    return super.forward(x) as tf.Tensor4D;
  }
}
