import * as tf from '@tensorflow/tfjs';
import { batchMatMulKernel, fusedMatMulKernel } from './MatMulKernels.js';
import type { NativeAddon } from './NativeAddon.js';
import { transposeKernel } from './TransposeKernel.js';

type KernelFactory = (addon: NativeAddon, fallback: tf.KernelFunc) => tf.KernelFunc;

/** The `wasm` kernels replaced by native ones, hottest first in a ViT training step's profile. */
export const NATIVE_KERNELS: Record<string, KernelFactory> = {
  BatchMatMul: batchMatMulKernel,
  _FusedMatMul: fusedMatMulKernel,
  Transpose: transposeKernel,
};

const originals = new Map<string, tf.KernelConfig>();

/**
 * Replaces `wasm` kernels with native ones. Each keeps the original's `setupFunc` (so the wasm backend
 * still initialises its own copy, used as the fallback for dtypes and attributes the native one skips).
 * Returns the kernel names now native.
 */
export function installNativeKernels(addon: NativeAddon): string[] {
  for (const [name, factory] of Object.entries(NATIVE_KERNELS)) {
    if (originals.has(name)) continue;
    const original = tf.getKernel(name, 'wasm');
    if (!original) continue;
    originals.set(name, original);
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({ ...original, kernelFunc: factory(addon, original.kernelFunc) });
  }
  return [...originals.keys()];
}

/** Puts tfjs-wasm's own kernels back (benchmarks compare both in one process). */
export function uninstallNativeKernels(): void {
  for (const [name, original] of originals) {
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel(original);
  }
  originals.clear();
}
