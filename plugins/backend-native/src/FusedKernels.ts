import * as tf from '@tensorflow/tfjs';
import { FusedKernel } from '@bt-platform/sdk/nn';
import type { NativeAddon } from './NativeAddon.js';
import { heapOf, offsetOf, type WasmBackendLike } from './WasmHeap.js';

type Inputs = Record<string, tf.TensorInfo>;

const lastAxis = (info: tf.TensorInfo) => info.shape[info.shape.length - 1] ?? 1;

/**
 * Kernels for the SDK's fused ops (`FusedKernel`), which the wasm backend does not have: registered
 * under new names, so that the SDK's GELU, layer norm, batch norm and softmax gradient, and the optim
 * plugin's Adam step, run as one native call each instead of a chain of tfjs kernels.
 */
export const FUSED_KERNELS: Record<string, (addon: NativeAddon) => tf.KernelFunc> = {
  [FusedKernel.gelu]: (addon) => (args) => {
    const { x } = args.inputs as Inputs;
    const backend = args.backend as unknown as WasmBackendLike;
    const y = backend.makeOutput(x.shape, 'float32');
    addon.gelu(heapOf(backend), offsetOf(backend, x), offsetOf(backend, y), tf.util.sizeFromShape(x.shape));
    return y;
  },
  [FusedKernel.geluGrad]: (addon) => (args) => {
    const { dy, x } = args.inputs as Inputs;
    const backend = args.backend as unknown as WasmBackendLike;
    const dx = backend.makeOutput(x.shape, 'float32');
    addon.geluGrad(heapOf(backend), offsetOf(backend, dy), offsetOf(backend, x), offsetOf(backend, dx), tf.util.sizeFromShape(x.shape));
    return dx;
  },
  [FusedKernel.layerNorm]: (addon) => (args) => {
    const { x, gamma, beta } = args.inputs as Inputs;
    const { eps } = args.attrs as unknown as { eps: number };
    const backend = args.backend as unknown as WasmBackendLike;
    const cols = lastAxis(x);
    const rows = tf.util.sizeFromShape(x.shape) / cols;
    const y = backend.makeOutput(x.shape, 'float32');
    const mean = backend.makeOutput([rows], 'float32');
    const rstd = backend.makeOutput([rows], 'float32');
    addon.layerNorm(heapOf(backend), offsetOf(backend, x), offsetOf(backend, gamma), offsetOf(backend, beta), offsetOf(backend, y), offsetOf(backend, mean), offsetOf(backend, rstd), rows, cols, eps);
    return [y, mean, rstd];
  },
  [FusedKernel.layerNormGrad]: (addon) => (args) => {
    const { dy, x, gamma, mean, rstd } = args.inputs as Inputs;
    const backend = args.backend as unknown as WasmBackendLike;
    const cols = lastAxis(x);
    const rows = tf.util.sizeFromShape(x.shape) / cols;
    const dx = backend.makeOutput(x.shape, 'float32');
    const dgamma = backend.makeOutput([cols], 'float32');
    const dbeta = backend.makeOutput([cols], 'float32');
    const at = (t: tf.TensorInfo) => offsetOf(backend, t);
    addon.layerNormGrad(heapOf(backend), at(dy), at(x), at(gamma), at(mean), at(rstd), at(dx), at(dgamma), at(dbeta), rows, cols);
    return [dx, dgamma, dbeta];
  },
  [FusedKernel.batchNorm]: (addon) => (args) => {
    const { x, gamma, beta } = args.inputs as Inputs;
    const { eps } = args.attrs as unknown as { eps: number };
    const backend = args.backend as unknown as WasmBackendLike;
    const channels = lastAxis(x);
    const y = backend.makeOutput(x.shape, 'float32');
    const mean = backend.makeOutput([channels], 'float32');
    const variance = backend.makeOutput([channels], 'float32');
    const at = (t: tf.TensorInfo) => offsetOf(backend, t);
    addon.batchNorm(heapOf(backend), at(x), at(gamma), at(beta), at(y), at(mean), at(variance), tf.util.sizeFromShape(x.shape) / channels, channels, eps);
    return [y, mean, variance];
  },
  [FusedKernel.batchNormGrad]: (addon) => (args) => {
    const { dy, x, gamma, mean, variance } = args.inputs as Inputs;
    const { eps } = args.attrs as unknown as { eps: number };
    const backend = args.backend as unknown as WasmBackendLike;
    const channels = lastAxis(x);
    const dx = backend.makeOutput(x.shape, 'float32');
    const dgamma = backend.makeOutput([channels], 'float32');
    const dbeta = backend.makeOutput([channels], 'float32');
    const at = (t: tf.TensorInfo) => offsetOf(backend, t);
    addon.batchNormGrad(heapOf(backend), at(dy), at(x), at(gamma), at(mean), at(variance), at(dx), at(dgamma), at(dbeta), tf.util.sizeFromShape(x.shape) / channels, channels, eps);
    return [dx, dgamma, dbeta];
  },
  [FusedKernel.adam]: (addon) => (args) => {
    const { param, grad, m, v } = args.inputs as Inputs;
    const a = args.attrs as unknown as { beta1: number; beta2: number; eps: number; decay: number; stepSize: number; sqrtCorrection2: number };
    const backend = args.backend as unknown as WasmBackendLike;
    const outs = [param, m, v].map((t) => backend.makeOutput(t.shape, 'float32'));
    const at = (t: tf.TensorInfo) => offsetOf(backend, t);
    addon.adam(heapOf(backend), at(param), at(grad), at(m), at(v), at(outs[0]), at(outs[1]), at(outs[2]), tf.util.sizeFromShape(param.shape), a.beta1, a.beta2, a.eps, a.decay, a.stepSize, a.sqrtCorrection2);
    return outs;
  },
  [FusedKernel.softmaxGrad]: (addon) => (args) => {
    const { dy, y } = args.inputs as Inputs;
    const backend = args.backend as unknown as WasmBackendLike;
    const cols = lastAxis(y);
    const dx = backend.makeOutput(y.shape, 'float32');
    addon.softmaxGrad(heapOf(backend), offsetOf(backend, dy), offsetOf(backend, y), offsetOf(backend, dx), tf.util.sizeFromShape(y.shape) / cols, cols);
    return dx;
  },
};

/** tfjs's Softmax over the last axis (the only one its op emits), in one pass per row. */
export function softmaxKernel(addon: NativeAddon, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { logits } = args.inputs as Inputs;
    const { dim } = args.attrs as unknown as { dim: number };
    const rank = logits.shape.length;
    if (logits.dtype !== 'float32' || rank === 0 || (dim !== -1 && dim !== rank - 1)) return fallback(args);
    const backend = args.backend as unknown as WasmBackendLike;
    const cols = lastAxis(logits);
    const y = backend.makeOutput(logits.shape, 'float32');
    const size = tf.util.sizeFromShape(logits.shape);
    if (size > 0) addon.softmax(heapOf(backend), offsetOf(backend, logits), offsetOf(backend, y), size / cols, cols);
    return y;
  };
}
