import * as tf from '@tensorflow/tfjs';
import type { NativeAddon } from './NativeAddon.js';
import { heapOf, offsetOf, type WasmBackendLike } from './WasmHeap.js';

/** Transpose of 4-byte tensors, cache-blocked in native code (the attention's 5-D qkv permutes). */
export function transposeKernel(addon: NativeAddon, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { perm } = args.attrs as unknown as { perm: number[] };
    if (x.dtype !== 'float32' && x.dtype !== 'int32') return fallback(args);
    const backend = args.backend as unknown as WasmBackendLike;
    const out = backend.makeOutput(perm.map((p) => x.shape[p]), x.dtype);
    if (tf.util.sizeFromShape(x.shape) === 0) return out;
    addon.transpose(heapOf(backend), offsetOf(backend, x), offsetOf(backend, out), Int32Array.from(x.shape), Int32Array.from(perm));
    return out;
  };
}
