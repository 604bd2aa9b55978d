import * as tf from '@tensorflow/tfjs';
import { Module } from '../module.js';
import { truncatedNormal } from './initializers.js';

/** nn.Linear over the last axis; saved in PyTorch's [out, in] layout. */
export class Linear extends Module {
  readonly weight: tf.Variable;
  readonly bias?: tf.Variable;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    seed: number,
    bias = true,
  ) {
    super();
    // timm initialises ViT linears with a truncated normal of std 0.02 and zero biases.
    this.weight = this.registerParameter('weight', truncatedNormal([inFeatures, outFeatures], 0.02, seed), 'linear');
    if (bias) this.bias = this.registerParameter('bias', tf.zeros([outFeatures]));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      // 2-D matmul: the batched matmul gradient does not reduce broadcast batch dimensions.
      const flat = tf.reshape(x, [-1, this.inFeatures]);
      const y = tf.matMul(flat, this.weight);
      const out = this.bias ? tf.add(y, this.bias) : y;
      return tf.reshape(out, [...x.shape.slice(0, -1), this.outFeatures]);
    });
  }
}
