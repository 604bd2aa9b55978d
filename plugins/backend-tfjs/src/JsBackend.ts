import * as tf from '@tensorflow/tfjs';
import { BtError, type BackendInfo } from '@bt-platform/sdk';
import { installWasmBridge } from './WasmBridge.js';
import { guardWasmHeap } from './WasmHeap.js';

/** Initialises tfjs's `wasm` (with the bridge for the kernels it lacks) or `cpu` backend. */
export async function useJsBackend(name: 'wasm' | 'cpu'): Promise<BackendInfo> {
  let detail = 'plain JavaScript';
  if (name === 'wasm') {
    await import('@tensorflow/tfjs-backend-wasm');
    const bridged = installWasmBridge();
    detail = `WebAssembly SIMD${bridged.length ? `; ${bridged.length} kernels bridged to cpu (${bridged.join(', ')})` : ''}`;
  }
  const ok = await withoutNewProcessHandlers(async () => {
    const set = await tf.setBackend(name);
    await tf.ready();
    return set;
  });
  if (!ok || tf.getBackend() !== name) throw new BtError('BACKEND_UNAVAILABLE', `The tfjs "${name}" backend failed to initialise.`);
  if (name === 'wasm') guardWasmHeap();
  return { name, device: 'cpu', detail };
}

const PROCESS_EVENTS = ['uncaughtException', 'unhandledRejection'] as const;

/**
 * Runs `init`, then removes the process handlers it added. tfjs-wasm's emscripten module installs
 * handlers that rethrow every uncaught exception and unhandled rejection of the whole process,
 * which turns any of them into exit code 7 and a dump of the module's minified source.
 */
async function withoutNewProcessHandlers<T>(init: () => Promise<T>): Promise<T> {
  const listeners = (event: string) => process.listeners(event as 'uncaughtException') as Array<(...args: unknown[]) => void>;
  const before = new Map(PROCESS_EVENTS.map((event) => [event, new Set(listeners(event))]));
  try {
    return await init();
  } finally {
    for (const event of PROCESS_EVENTS) {
      for (const listener of listeners(event)) if (!before.get(event)!.has(listener)) process.off(event, listener);
    }
  }
}
