import * as tf from '@tensorflow/tfjs';
import { conv2dBackpropFilterKernel, conv2dBackpropInputKernel, conv2dKernel, maxPoolGradKernel, unpackKernel } from './ConvKernels.js';
import { BINARY_OPS, REDUCE_OPS, UNARY_OPS, binaryKernel, reduceKernel, unaryKernel } from './ElementwiseKernels.js';
import { FUSED_KERNELS, softmaxKernel } from './FusedKernels.js';
import { batchMatMulKernel, fusedMatMulKernel } from './MatMulKernels.js';
import type { NativeAddon } from './NativeAddon.js';
import { transposeKernel } from './TransposeKernel.js';

type KernelFactory = (addon: NativeAddon, fallback: tf.KernelFunc) => tf.KernelFunc;

/** The `wasm` kernels replaced by native ones, hottest first in a ViT training step's profile. */
export const NATIVE_KERNELS: Record<string, KernelFactory> = {
  BatchMatMul: batchMatMulKernel,
  _FusedMatMul: fusedMatMulKernel,
  Transpose: transposeKernel,
  ...Object.fromEntries(Object.entries(BINARY_OPS).map(([name, op]) => [name, binaryKernel(op)])),
  ...Object.fromEntries(Object.entries(UNARY_OPS).map(([name, op]) => [name, unaryKernel(op)])),
  ...Object.fromEntries(Object.entries(REDUCE_OPS).map(([name, op]) => [name, reduceKernel(op)])),
  Unpack: unpackKernel,
  Conv2D: conv2dKernel,
  Conv2DBackpropInput: conv2dBackpropInputKernel,
  Conv2DBackpropFilter: conv2dBackpropFilterKernel,
  MaxPoolGrad: maxPoolGradKernel,
  Softmax: softmaxKernel,
};

const originals = new Map<string, tf.KernelConfig>();
const added: string[] = [];

/**
 * Replaces `wasm` kernels with native ones, and adds the SDK's fused kernels (`FUSED_KERNELS`). Each
 * replacement keeps the original's `setupFunc` (so the wasm backend still initialises its own copy,
 * used as the fallback for dtypes and attributes the native one skips). Kernels named in `skip`
 * (default: the comma list in BT_NATIVE_SKIP) stay wasm's. Returns the kernel names now native.
 */
export function installNativeKernels(addon: NativeAddon, skip: readonly string[] = (process.env.BT_NATIVE_SKIP ?? '').split(',')): string[] {
  for (const [name, factory] of Object.entries(NATIVE_KERNELS)) {
    if (originals.has(name) || skip.includes(name)) continue;
    const original = tf.getKernel(name, 'wasm');
    if (!original) continue;
    originals.set(name, original);
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({ ...original, kernelFunc: factory(addon, original.kernelFunc) });
  }
  for (const [name, factory] of Object.entries(FUSED_KERNELS)) {
    if (added.includes(name) || skip.includes(name)) continue;
    tf.registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc: factory(addon) });
    added.push(name);
  }
  return [...originals.keys(), ...added];
}

/** Puts tfjs-wasm's own kernels back (benchmarks compare both in one process). */
export function uninstallNativeKernels(): void {
  for (const [name, original] of originals) {
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel(original);
  }
  originals.clear();
  for (const name of added.splice(0)) tf.unregisterKernel(name, 'wasm');
}
