import { BtError, type BackendInfo, type FailurePlace } from '@bt-platform/sdk';
import { formatGb, WASM_HEAP_LIMIT, WASM_HEAP_RESERVE, WasmHeapExhausted, wasmHeapUsage, type WasmHeapUsage } from './WasmHeap.js';

/** How each runtime words an allocation that failed: V8 (cpu), libtensorflow, WebGPU. */
const HOST_OUT_OF_MEMORY = /array buffer allocation failed|invalid typed array length|out ?of ?memory|\bOOM\b|ResourceExhausted|failed to allocate|cannot allocate/i;
/** What tfjs-wasm reports when its heap ran out inside a kernel (a null pointer used, or an abort). */
const WASM_FAILURE = /memory access out of bounds|Aborted\(/;

/**
 * A failure that is the backend running out of memory, as an `OUT_OF_MEMORY` error naming the
 * backend, its limit, where the run was and the config keys that lower the memory a step takes;
 * undefined for any other failure. A wasm abort or out-of-bounds access counts when the heap had
 * (nearly) reached its limit, since that is what they mean there.
 */
export function describeOutOfMemory(error: unknown, backend: BackendInfo, place: FailurePlace, config: Record<string, unknown>): BtError | undefined {
  const detail = outOfMemoryDetail(error, wasmHeapUsage());
  if (!detail) return undefined;
  return new BtError('OUT_OF_MEMORY', `The ${backend.name} backend ran out of memory ${where(place)}: ${detail}`, {
    hint: `${whatToLower(config)} Checkpoints written so far are intact (\`run --resume\` continues from the last one).`,
    cause: error,
  });
}

/** The failure itself, or the one a hook's error wraps (a callback that ran out of memory). */
function outOfMemoryDetail(error: unknown, heap: WasmHeapUsage | undefined): string | undefined {
  for (let e = error, depth = 0; e !== undefined && depth < 5; e = (e as Error).cause, depth++) {
    const detail = ownDetail(e, heap);
    if (detail) return detail;
  }
  return undefined;
}

function ownDetail(error: unknown, heap: WasmHeapUsage | undefined): string | undefined {
  if (error instanceof WasmHeapExhausted) return error.message.replace(/^The wasm heap is full: /, '');
  if (error instanceof BtError) return undefined;
  const message = `${(error as Error)?.name ?? ''}: ${(error as Error)?.message ?? String(error)}`;
  if (heap && WASM_FAILURE.test(message) && (heap.aborted || heap.heap + 2 * WASM_HEAP_RESERVE > heap.limit)) {
    return `the wasm heap reached ${formatGb(heap.heap)} of its ${formatGb(WASM_HEAP_LIMIT)} limit (32-bit WebAssembly) and a kernel could not allocate (${firstLine(message)}).`;
  }
  if (HOST_OUT_OF_MEMORY.test(message)) return `${firstLine(message)}.`;
  return undefined;
}

function where(place: FailurePlace): string {
  const at = `epoch ${place.epoch}, batch ${place.batch}, global step ${place.globalStep}`;
  return place.stage === 'fit' ? `while training (${at})` : `while running ${place.stage === 'validate' ? 'validation' : 'the test'} (${at})`;
}

/** The keys of this config that set the memory of a step, with their values, and what to do with them. */
export function whatToLower(config: Record<string, unknown>): string {
  const get = (path: string) => path.split('.').reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], config);
  const lower = ['data.batchSize', 'data.imageSize', 'task.projectorDim']
    .filter((key) => get(key) !== undefined)
    .map((key) => `${key} (now ${get(key)})`);
  const checkpointing = get('model.backbone.checkpointActivations');
  const recompute =
    get('model.backbone') === undefined || checkpointing === true
      ? ''
      : ', or set model.backbone.checkpointActivations: true (activations recomputed in the backward pass, about a third more compute)';
  return `Lower ${lower.length ? lower.join(', ') : 'the batch size or the image size'}${recompute}; \`bt-platform tune batch-size\` finds the largest batch that fits.`;
}

function firstLine(text: string): string {
  return text.split('\n')[0].replace(/^Error: |^RuntimeError: |^RangeError: |^: /, '').replace(/\.$/, '');
}
