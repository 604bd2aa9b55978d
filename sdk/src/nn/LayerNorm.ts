import * as tf from '@tensorflow/tfjs';
import { Module } from '../module.js';
import { FusedKernel, runFused } from './fusedKernel.js';

/** Mean and 1/σ of each row (biased variance, as PyTorch), shaped [rows]. */
function rowStatistics(x: tf.Tensor, eps: number): [tf.Tensor, tf.Tensor] {
  const rows = x.size / x.shape[x.rank - 1];
  const { mean, variance } = tf.moments(x, -1);
  return [tf.reshape(mean, [rows]), tf.reshape(tf.rsqrt(tf.add(variance, eps)), [rows])];
}

type LayerNormFn = (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => tf.Tensor;
const byEps = new Map<number, LayerNormFn>();

/**
 * Layer normalisation over the last axis, (x − μ)/σ·γ + β. A custom gradient keeps only x and the
 * per-row μ and 1/σ for the backward pass, and both passes run as one kernel each on backends that
 * have `BtLayerNorm`/`BtLayerNormGrad` (tfjs's autodiff of the composite is about twenty kernels).
 */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number): tf.Tensor {
  let fn = byEps.get(eps);
  if (!fn) byEps.set(eps, (fn = layerNormWithGrad(eps)));
  return fn(x, gamma, beta);
}

// tf.customGrad takes tensors only, so eps is bound per value (a model uses one or two).
function layerNormWithGrad(eps: number): LayerNormFn {
  return tf.customGrad(((x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, save: tf.GradSaveFunc) => {
    const d = x.shape[x.rank - 1];
    const rowsShape = [...x.shape.slice(0, -1), 1];
    const [y, mean, rstd] = runFused(FusedKernel.layerNorm, { x, gamma, beta }, { eps }, () => {
      const [mu, r] = rowStatistics(x, eps);
      const normed = tf.mul(tf.sub(x, tf.reshape(mu, rowsShape)), tf.reshape(r, rowsShape));
      return [tf.add(tf.mul(normed, gamma), beta), mu, r];
    });
    save([x, gamma, mean, rstd]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [input, g, mu, r] = saved;
        return runFused(FusedKernel.layerNormGrad, { dy, x: input, gamma: g, mean: mu, rstd: r }, {}, () => {
          const rows = input.size / d;
          const dy2 = tf.reshape(dy, [rows, d]);
          const rstd2 = tf.reshape(r, [rows, 1]);
          const xhat = tf.mul(tf.sub(tf.reshape(input, [rows, d]), tf.reshape(mu, [rows, 1])), rstd2);
          const dxhat = tf.mul(dy2, g);
          const dxRows = tf.mul(rstd2, tf.sub(tf.sub(dxhat, tf.mean(dxhat, -1, true)), tf.mul(xhat, tf.mean(tf.mul(dxhat, xhat), -1, true))));
          return [tf.reshape(dxRows, input.shape), tf.sum(tf.mul(dy2, xhat), 0), tf.sum(dy2, 0)];
        });
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as LayerNormFn;
}

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
    return layerNorm(x, this.weight, this.bias, this.eps);
  }
}
