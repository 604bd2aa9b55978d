import * as tf from '@tensorflow/tfjs';
import { planMatMul } from '@bt-platform/plugin-backend-tfjs';
import type { NativeAddon } from './NativeAddon.js';
import { heapOf, offsetOf, type WasmBackendLike } from './WasmHeap.js';

const ACTIVATIONS: Record<string, number> = { linear: 0, relu: 1, relu6: 2, elu: 3, sigmoid: 4, leakyrelu: 5 };

function matMulInto(addon: NativeAddon, backend: WasmBackendLike, a: tf.TensorInfo, b: tf.TensorInfo, transA: boolean, transB: boolean): tf.TensorInfo {
  const plan = planMatMul(a.shape, b.shape, transA, transB);
  const out = backend.makeOutput(plan.outShape, 'float32');
  if (tf.util.sizeFromShape(plan.outShape) === 0) return out;
  if (plan.k === 0) {
    backend.typedArrayFromHeap(out).fill(0);
    return out;
  }
  addon.batchMatMul(heapOf(backend), offsetOf(backend, a), offsetOf(backend, b), offsetOf(backend, out), plan.m, plan.n, plan.k, transA, transB, plan.aOffsets, plan.bOffsets);
  return out;
}

/** BatchMatMul through cblas_sgemm: every transpose flag and broadcast batch, float32. */
export function batchMatMulKernel(addon: NativeAddon, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
    if (a.dtype !== 'float32' || b.dtype !== 'float32') return fallback(args);
    return matMulInto(addon, args.backend as unknown as WasmBackendLike, a, b, transposeA, transposeB);
  };
}

/** _FusedMatMul (matmul + bias + activation, as tfjs's dense layers and fused ops emit). */
export function fusedMatMulKernel(addon: NativeAddon, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { a, b, bias, preluActivationWeights } = args.inputs as Record<string, tf.TensorInfo | undefined>;
    const { transposeA, transposeB, activation, leakyreluAlpha } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean; activation: string; leakyreluAlpha?: number };
    const code = ACTIVATIONS[activation ?? 'linear'];
    const n = transposeB ? b!.shape[b!.shape.length - 2] : b!.shape[b!.shape.length - 1];
    const biasSize = bias ? tf.util.sizeFromShape(bias.shape) : 0;
    const simpleBias = !bias || (bias.dtype === 'float32' && (biasSize === 1 || (biasSize === n && bias.shape[bias.shape.length - 1] === n)));
    if (a!.dtype !== 'float32' || b!.dtype !== 'float32' || code === undefined || preluActivationWeights || !simpleBias) return fallback(args);
    const backend = args.backend as unknown as WasmBackendLike;
    const out = matMulInto(addon, backend, a!, b!, transposeA, transposeB);
    const size = tf.util.sizeFromShape(out.shape);
    if ((bias || code) && size > 0) {
      addon.biasActivation(heapOf(backend), offsetOf(backend, out), size / n, n, bias ? offsetOf(backend, bias) : -1, biasSize, code, leakyreluAlpha ?? 0.2);
    }
    return out;
  };
}
