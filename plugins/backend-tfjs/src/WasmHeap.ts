import * as tf from '@tensorflow/tfjs';
import { BtError } from '@bt-platform/sdk';

/** emscripten's maximum for tfjs-wasm's 32-bit heap: 4 GiB less one 64 KiB page. */
export const WASM_HEAP_LIMIT = 4294901760;

/**
 * Room kept free after every tensor allocation once the heap is near its limit, for the
 * allocations tfjs-wasm's C++ kernels make themselves: those cannot fail cleanly (the module
 * aborts), a tensor allocation can.
 */
export const WASM_HEAP_RESERVE = 64 * 1024 * 1024;

/** What the wasm heap holds, as counted at each tensor allocation. */
export interface WasmHeapUsage {
  /** Bytes of tensor data allocated now. */
  live: number;
  /** The most `live` has been since the last `resetPeak()`. */
  peak: number;
  /** Size of the wasm memory (it grows, never shrinks). */
  heap: number;
  limit: number;
  /** Whether the module has aborted (after which it cannot be used). */
  aborted: boolean;
}

interface WasmModule {
  _malloc(bytes: number): number;
  _free(pointer: number): void;
  HEAPU8: Uint8Array;
  onAbort?: (what: unknown) => void;
}

const guarded = new WeakMap<WasmModule, HeapGuard>();

/** A tensor allocation the wasm heap cannot hold; the tensor was not created and the heap is intact. */
export class WasmHeapExhausted extends BtError {
  constructor(
    readonly requested: number,
    readonly usage: WasmHeapUsage,
  ) {
    super(
      'OUT_OF_MEMORY',
      `The wasm heap is full: a tensor of ${formatGb(requested)} does not fit next to the ${formatGb(usage.live)} of tensors it holds (limit ${formatGb(usage.limit)}, 32-bit WebAssembly).`,
      { hint: 'Lower data.batchSize or data.imageSize, or set model.backbone.checkpointActivations: true.' },
    );
  }
}

class HeapGuard {
  live = 0;
  peak = 0;
  aborted = false;
  private readonly sizes = new Map<number, number>();

  constructor(private readonly module: WasmModule) {
    const malloc = module._malloc.bind(module);
    const free = module._free.bind(module);
    guardProperty(module, '_malloc', (bytes: number) => {
      // _malloc takes a 32-bit size: anything larger would wrap around to a smaller block.
      if (bytes > WASM_HEAP_LIMIT) throw new WasmHeapExhausted(bytes, this.usage());
      const pointer = malloc(bytes);
      if (pointer === 0 && bytes > 0) throw new WasmHeapExhausted(bytes, this.usage());
      // Near 4 GB tfjs-wasm's allocator can hand out a block that runs past the end of the memory
      // (its size arithmetic wraps at 2³²); the next kernel would write outside the heap (a
      // segmentation fault in the native kernels). The block is not given back to an allocator
      // whose bookkeeping is already wrong; the run stops here anyway.
      if ((pointer >>> 0) + bytes > this.module.HEAPU8.length) throw new WasmHeapExhausted(bytes, this.usage());
      if (this.module.HEAPU8.length + WASM_HEAP_RESERVE > WASM_HEAP_LIMIT && !this.reserveFree(malloc, free)) {
        free(pointer);
        throw new WasmHeapExhausted(bytes, this.usage());
      }
      // Pointers above 2 GB come back negative (a signed i32); tfjs frees them as unsigned.
      this.sizes.set(pointer >>> 0, bytes);
      this.live += bytes;
      if (this.live > this.peak) this.peak = this.live;
      return pointer;
    });
    guardProperty(module, '_free', (pointer: number) => {
      this.live -= this.sizes.get(pointer >>> 0) ?? 0;
      this.sizes.delete(pointer >>> 0);
      free(pointer);
    });
    const onAbort = module.onAbort;
    module.onAbort = (what: unknown) => {
      this.aborted = true;
      onAbort?.(what);
    };
  }

  private reserveFree(malloc: (bytes: number) => number, free: (pointer: number) => void): boolean {
    const probe = malloc(WASM_HEAP_RESERVE);
    if (probe === 0) return false;
    free(probe);
    return true;
  }

  usage(): WasmHeapUsage {
    return { live: this.live, peak: this.peak, heap: this.module.HEAPU8.length, limit: WASM_HEAP_LIMIT, aborted: this.aborted };
  }
}

/**
 * Replaces a function of the module for good: emscripten's export stubs overwrite their own
 * property with the raw export on their first call, which would silently drop a plain assignment.
 */
function guardProperty<K extends '_malloc' | '_free'>(module: WasmModule, key: K, value: WasmModule[K]): void {
  Object.defineProperty(module, key, { configurable: true, enumerable: true, get: () => value, set: () => {} });
}

function wasmModule(): WasmModule | undefined {
  if (tf.getBackend() !== 'wasm') return undefined;
  return (tf.backend() as unknown as { wasm?: WasmModule }).wasm ?? undefined;
}

/**
 * Makes every tensor allocation on the wasm heap that cannot be satisfied throw
 * `WasmHeapExhausted` before anything is written, instead of tfjs-wasm carrying on with a null
 * pointer ("memory access out of bounds" later) or a wrapped-around size; keeps a reserve for the
 * C++ kernels' own allocations near the limit; counts the bytes held. Idempotent.
 */
export function guardWasmHeap(): void {
  const module = wasmModule();
  if (module && !guarded.has(module)) guarded.set(module, new HeapGuard(module));
}

/** The wasm heap's usage, when the current backend is wasm (or native) and guarded. */
export function wasmHeapUsage(): WasmHeapUsage | undefined {
  const module = wasmModule();
  return module ? guarded.get(module)?.usage() : undefined;
}

/** Starts a new peak (e.g. per training step) at the bytes held now. */
export function resetWasmHeapPeak(): void {
  const module = wasmModule();
  const guard = module && guarded.get(module);
  if (guard) guard.peak = guard.live;
}

export function formatGb(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(2)} GB`;
  const mb = bytes / 1024 ** 2;
  return `${mb >= 10 ? Math.round(mb) : mb.toFixed(1)} MB`;
}
