import * as tf from '@tensorflow/tfjs';
import { Module } from '../module.js';
import { truncatedNormal, uniform } from './initializers.js';

/**
 * nn.Linear over the last axis; saved in PyTorch's [out, in] layout. `init`: timm's truncated
 * normal (std 0.02, zero bias), or PyTorch's default U(−1/√in, 1/√in) for weight and bias.
 */
export class Linear extends Module {
  readonly weight: tf.Variable;
  readonly bias?: tf.Variable;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    seed: number,
    bias = true,
    init: 'timm' | 'torch' = 'timm',
  ) {
    super();
    const bound = 1 / Math.sqrt(inFeatures);
    const weight = init === 'timm' ? truncatedNormal([inFeatures, outFeatures], 0.02, seed) : tf.randomUniform([inFeatures, outFeatures], -bound, bound, 'float32', seed);
    this.weight = this.registerParameter('weight', weight, 'linear');
    if (bias) this.bias = this.registerParameter('bias', init === 'timm' ? tf.zeros([outFeatures]) : tf.randomUniform([outFeatures], -bound, bound, 'float32', seed + 1));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      // 2-D matmul: the batched matmul gradient does not reduce broadcast batch dimensions.
      const flat = tf.reshape(x, [-1, this.inFeatures]);
      // With a bias, one fused kernel where a backend has one (tfjs's `_FusedMatMul`); its gradient is the composite's.
      const y = this.bias ? tf.fused.matMul({ a: flat, b: this.weight, bias: this.bias }) : tf.matMul(flat, this.weight);
      return tf.reshape(y, [...x.shape.slice(0, -1), this.outFeatures]);
    });
  }
}
