import * as tf from '@tensorflow/tfjs';

/**
 * Kernels a backend may register to run an op of `@bt-platform/sdk/nn` in one pass. Without them
 * the op runs as a composition of standard tfjs ops, so every backend works; with them, a training
 * step makes a few kernel calls where the composition makes dozens.
 * Inputs and attributes of each (all float32, `rows` = every axis but the last):
 * - `BtGelu` {x} → y; `BtGeluGrad` {dy, x} → dx.
 * - `BtLayerNorm` {x, gamma, beta} attrs {eps} → [y, mean, rstd]  (mean and rstd: shape [rows]).
 * - `BtLayerNormGrad` {dy, x, gamma, mean, rstd} → [dx, dgamma, dbeta].
 * - `BtSoftmaxGrad` {dy, y} → dx, over the last axis.
 * - `BtBatchNorm` {x, gamma, beta} attrs {eps} → [y, mean, variance]: batch statistics of each channel
 *   (the last axis) over every other axis, biased variance; mean and variance shaped [channels].
 * - `BtBatchNormGrad` {dy, x, gamma, mean, variance} attrs {eps} → [dx, dgamma, dbeta].
 * - `BtAttention` {qkv: [B, N, 3·D]} attrs {heads, scale} → [out: [B, N, D], probs: [B·heads, N, N]]:
 *   per head softmax(q·kᵀ·scale)·v, q/k/v laid out in qkv as [B, N, 3, heads, D/heads].
 * - `BtAttentionGrad` {dy: [B, N, D], qkv, probs} attrs {heads, scale} → dqkv: [B, N, 3·D].
 * - `BtAdam` {param, grad, m, v} attrs {beta1, beta2, eps, decay, stepSize, sqrtCorrection2} →
 *   [param', m', v']: m' = β1·m + (1−β1)·g, v' = β2·v + (1−β2)·g², param' = decay·param −
 *   stepSize·m'/(√v'/sqrtCorrection2 + eps) (one AdamW step, as the optim plugin computes it).
 *   A backend may write param', m' and v' into the inputs' own memory when nothing else shares it.
 * - `BtAdamMulti` {param0, grad0, m0, v0, param1, …} attrs {beta1, beta2, eps, decay: number[],
 *   stepSize: number[], sqrtCorrection2: number[]} → [param0', m0', v0', param1', …]: `BtAdam` of
 *   every parameter in one call, so a GPU backend can update several in one dispatch.
 * - `BtRunningStats` {runningMean, runningVar, mean, variance, count} attrs {keep, momentum,
 *   varianceScale} → [runningMean·keep + mean·momentum, runningVar·keep + variance·varianceScale,
 *   count + 1]: a batch norm's running statistics and its int32 batch counter after a training
 *   batch; a backend may write them into the inputs' own memory when nothing else shares it.
 */
export const FusedKernel = {
  gelu: 'BtGelu',
  geluGrad: 'BtGeluGrad',
  layerNorm: 'BtLayerNorm',
  layerNormGrad: 'BtLayerNormGrad',
  softmaxGrad: 'BtSoftmaxGrad',
  batchNorm: 'BtBatchNorm',
  batchNormGrad: 'BtBatchNormGrad',
  adam: 'BtAdam',
  adamMulti: 'BtAdamMulti',
  runningStats: 'BtRunningStats',
  attention: 'BtAttention',
  attentionGrad: 'BtAttentionGrad',
} as const;

export type FusedKernelName = (typeof FusedKernel)[keyof typeof FusedKernel];

/** Runs the current backend's kernel `name` if it has one, else `composite()`. */
export function runFused<T extends tf.Tensor | tf.Tensor[]>(name: FusedKernelName, inputs: tf.NamedTensorMap, attrs: Record<string, number | number[]>, composite: () => T): T {
  if (!tf.getKernel(name, tf.getBackend())) return composite();
  return tf.engine().runKernel(name, inputs, attrs as unknown as tf.NamedAttrMap) as unknown as T;
}
