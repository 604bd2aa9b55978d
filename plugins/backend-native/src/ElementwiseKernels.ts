import * as tf from '@tensorflow/tfjs';
import type { NativeAddon } from './NativeAddon.js';
import { heapOf, offsetOf, type WasmBackendLike } from './WasmHeap.js';

/**
 * Unary ops by the addon's op code: only those where tfjs-wasm is slow (it calls libm per element;
 * the addon's exp/erf vectorise). Neg, Square and Relu stay on wasm's XNNPACK, as fast as native.
 */
export const UNARY_OPS: Record<string, number> = { Erf: 0, Exp: 1, Sqrt: 4, Rsqrt: 5, Reciprocal: 7 };
/** Broadcasting binary ops by the addon's op code. */
export const BINARY_OPS: Record<string, number> = { Add: 0, Sub: 1, Multiply: 2, RealDiv: 3, SquaredDifference: 4, Maximum: 5, Minimum: 6 };
/** Reductions by the addon's op code. */
export const REDUCE_OPS: Record<string, number> = { Sum: 0, Mean: 1, Max: 2 };

export function unaryKernel(op: number) {
  return (addon: NativeAddon, fallback: tf.KernelFunc): tf.KernelFunc =>
    (args) => {
      const { x } = args.inputs as { x: tf.TensorInfo };
      if (x.dtype !== 'float32') return fallback(args);
      const backend = args.backend as unknown as WasmBackendLike;
      const out = backend.makeOutput(x.shape, 'float32');
      const n = tf.util.sizeFromShape(x.shape);
      if (n > 0) addon.unary(heapOf(backend), op, offsetOf(backend, x), offsetOf(backend, out), n);
      return out;
    };
}

export function binaryKernel(op: number) {
  return (addon: NativeAddon, fallback: tf.KernelFunc): tf.KernelFunc =>
    (args) => {
      const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      if (a.dtype !== 'float32' || b.dtype !== 'float32') return fallback(args);
      const backend = args.backend as unknown as WasmBackendLike;
      const shape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
      const out = backend.makeOutput(shape, 'float32');
      if (tf.util.sizeFromShape(shape) > 0) {
        addon.binary(heapOf(backend), op, offsetOf(backend, a), Int32Array.from(a.shape), offsetOf(backend, b), Int32Array.from(b.shape), offsetOf(backend, out), Int32Array.from(shape));
      }
      return out;
    };
}

export function reduceKernel(op: number) {
  return (addon: NativeAddon, fallback: tf.KernelFunc): tf.KernelFunc =>
    (args) => {
      const { x } = args.inputs as { x: tf.TensorInfo };
      // Max names its axes `reductionIndices`, Sum and Mean `axis`.
      const { axis, reductionIndices, keepDims } = args.attrs as unknown as { axis?: number | number[]; reductionIndices?: number | number[]; keepDims: boolean };
      if (x.dtype !== 'float32' || tf.util.sizeFromShape(x.shape) === 0) return fallback(args);
      const axes = tf.util.parseAxisParam((axis ?? reductionIndices ?? null) as number[], x.shape);
      const mask = Int32Array.from(x.shape, (_, i) => (axes.includes(i) ? 1 : 0));
      const outShape = x.shape.filter((_, i) => !axes.includes(i));
      const backend = args.backend as unknown as WasmBackendLike;
      const out = backend.makeOutput(outShape, 'float32');
      addon.reduce(heapOf(backend), op, offsetOf(backend, x), Int32Array.from(x.shape), mask, offsetOf(backend, out));
      if (keepDims) out.shape = tf.backend_util.expandShapeToKeepDim(outShape, axes);
      return out;
    };
}
