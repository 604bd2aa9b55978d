import * as tf from '@tensorflow/tfjs';
import { Module } from '@bt-platform/sdk';

/** nn.Linear with PyTorch's default initialisation, U(−1/√in, 1/√in); saved as [out, in]. */
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
    const bound = 1 / Math.sqrt(inFeatures);
    this.weight = this.registerParameter('weight', tf.randomUniform([inFeatures, outFeatures], -bound, bound, 'float32', seed), 'linear');
    if (bias) this.bias = this.registerParameter('bias', tf.randomUniform([outFeatures], -bound, bound, 'float32', seed + 1));
  }

  forward(x: tf.Tensor2D): tf.Tensor2D {
    const y = tf.matMul(x, this.weight);
    return (this.bias ? tf.add(y, this.bias) : y) as tf.Tensor2D;
  }
}
