import * as tf from '@tensorflow/tfjs';
import type { Backend } from '@bt-platform/sdk';

interface EngineState {
  numBytes: number;
  gradientDepth: number;
  activeTape: Array<{ saved?: tf.Tensor[] }> | null;
}

const engineState = () => tf.engine().state as unknown as EngineState;

/**
 * The most tensor bytes held while `fn` runs: the backend's own count where it keeps one (the
 * wasm heap of wasm and native, exact), else tfjs's running total (which counts data shared by
 * reshapes once per tensor), watched as it changes.
 */
export function peakTensorBytes(backend: Backend, fn: () => void): number {
  if (backend.memory?.()) {
    backend.resetMemoryPeak?.();
    fn();
    return backend.memory()!.peak;
  }
  const state = engineState();
  let value = state.numBytes;
  let peak = value;
  Object.defineProperty(state, 'numBytes', {
    configurable: true,
    enumerable: true,
    get: () => value,
    set: (bytes: number) => {
      value = bytes;
      if (bytes > peak) peak = bytes;
    },
  });
  try {
    fn();
  } finally {
    delete (state as Partial<EngineState>).numBytes;
    state.numBytes = value;
  }
  return peak;
}

/**
 * Frees what a gradient computation that threw left on tfjs's tape: the tensors it saved for the
 * backward pass stay allocated (and kept) until a backward pass that will never run.
 */
export function releaseAbandonedTape(): void {
  const state = engineState();
  if (state.gradientDepth !== 0 || !state.activeTape) return;
  for (const node of state.activeTape) for (const tensor of node.saved ?? []) tensor.dispose();
  state.activeTape = null;
}
