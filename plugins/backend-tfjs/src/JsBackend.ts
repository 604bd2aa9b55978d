import * as tf from '@tensorflow/tfjs';
import { BtError, type BackendInfo } from '@bt-platform/sdk';
import { installWasmBridge } from './WasmBridge.js';

/** Initialises tfjs's `wasm` (with the bridge for the kernels it lacks) or `cpu` backend. */
export async function useJsBackend(name: 'wasm' | 'cpu'): Promise<BackendInfo> {
  let detail = 'plain JavaScript';
  if (name === 'wasm') {
    await import('@tensorflow/tfjs-backend-wasm');
    const bridged = installWasmBridge();
    detail = `WebAssembly SIMD${bridged.length ? `; ${bridged.length} kernels bridged to cpu (${bridged.join(', ')})` : ''}`;
  }
  const ok = await tf.setBackend(name);
  await tf.ready();
  if (!ok || tf.getBackend() !== name) throw new BtError('BACKEND_UNAVAILABLE', `The tfjs "${name}" backend failed to initialise.`);
  return { name, device: 'cpu', detail };
}
