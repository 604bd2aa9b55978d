import * as tf from '@tensorflow/tfjs';
import { Module } from '../module.js';

/** nn.LayerNorm over the last axis (biased variance, as PyTorch). */
export class LayerNorm extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;

  constructor(
    readonly features: number,
    readonly eps: number,
  ) {
    super();
    this.weight = this.registerParameter('weight', tf.ones([features]));
    this.bias = this.registerParameter('bias', tf.zeros([features]));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const { mean, variance } = tf.moments(x, -1, true);
      const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, this.eps)));
      return tf.add(tf.mul(normed, this.weight), this.bias);
    });
  }
}
