import * as tf from '@tensorflow/tfjs';
import type { BackendInfo, Log } from '@bt-platform/sdk';
import { gatherGpuEvidence, judgeGpu } from './GpuCheck.js';

export const TENSORFLOW_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const;

/**
 * Loads libtensorflow through `pkg` and reports the device really in use: with the GPU package but
 * without CUDA 11 libraries, it warns loudly and reports `cpu`.
 */
export async function useTensorflow(pkg: (typeof TENSORFLOW_PACKAGES)[number], log: Log): Promise<BackendInfo> {
  await import(pkg);
  if (!(await tf.setBackend('tensorflow'))) throw new Error(`${pkg} loaded but the "tensorflow" backend failed to initialise`);
  await tf.ready();
  tf.tidy(() => tf.add(tf.scalar(1), tf.scalar(1)).dataSync());
  const verdict = judgeGpu(gatherGpuEvidence(pkg, tf.backend()));
  if (verdict.warning) log.warn(verdict.warning);
  return { name: 'tensorflow', device: verdict.device, detail: `${pkg} loaded${verdict.warning ? ' (GPU package, but running on the CPU: see the warning)' : ''}` };
}
