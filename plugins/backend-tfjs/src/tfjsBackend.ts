import type { Backend, BackendInfo } from '@bt-platform/sdk';
import { describeOutOfMemory } from './describeOutOfMemory.js';
import { resetWasmHeapPeak, wasmHeapUsage } from './WasmHeap.js';

/**
 * The value of a tfjs backend component: its info, out-of-memory failures described with the
 * run's config, and the wasm heap's counts when the backend keeps its tensors there (wasm, native).
 */
export function tfjsBackend(info: BackendInfo, config: Record<string, unknown>): Backend {
  return {
    info,
    describeError: (error, place) => describeOutOfMemory(error, info, place, config),
    memory: () => wasmHeapUsage(),
    resetMemoryPeak: resetWasmHeapPeak,
  };
}
