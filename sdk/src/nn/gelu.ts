import * as tf from '@tensorflow/tfjs';
import { FusedKernel, runFused } from './fusedKernel.js';

const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

function normalCdf(x: tf.Tensor): tf.Tensor {
  return tf.mul(tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1), 0.5);
}

/**
 * Exact GELU, x·Φ(x), as nn.GELU's default. A custom gradient, x ↦ Φ(x) + x·φ(x), keeps only the
 * input for the backward pass: the composite form keeps five activation-sized tensors per call,
 * which in a ViT's MLP is most of the memory a training step holds. Runs as one kernel each way
 * on backends that have `BtGelu`/`BtGeluGrad`.
 */
export const gelu = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
  save([x]);
  return {
    value: runFused(FusedKernel.gelu, { x }, {}, () => tf.mul(x, normalCdf(x))),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [input] = saved;
      return runFused(FusedKernel.geluGrad, { dy, x: input }, {}, () => {
        const pdf = tf.mul(tf.exp(tf.mul(tf.square(input), -0.5)), INV_SQRT_2PI);
        return tf.mul(dy, tf.add(normalCdf(input), tf.mul(input, pdf)));
      });
    },
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor) => tf.Tensor;
