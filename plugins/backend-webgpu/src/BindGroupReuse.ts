import type { WebGpuBackendLike } from './SyncRead.js';

/**
 * Creating a bind group is the most expensive Dawn call a dispatch makes (about 20 µs of host time
 * on the 2-core bench machine, a third of a ViT step's host time). A bind group is immutable, so
 * one made for the same layout and the same buffer ranges can be used again. Three changes make
 * that pay:
 * - The buffer pool hands out, among the free buffers of the requested size and usage, the one it
 *   created first (tfjs's pool hands out the one released last). Which buffers are free then
 *   depends only on which requests came before, not on the order of releases, so a training step
 *   that repeats the same ops gets the same buffers every time.
 * - `createBindGroup` returns the bind group it made earlier for the same layout and entries.
 * - A dispatch's uniforms (sizes, strides) then land in the same uniform buffer as last step, with
 *   the same bytes: the write is skipped.
 * On the null device every bind group of a ViT step repeats from the fifth step on.
 */
export function reuseBindGroups<B extends WebGpuBackendLike>(backend: B, cacheLimit = DEFAULT_CACHE_LIMIT): B {
  const internals = backend as unknown as BackendInternals;
  internals.bufferManager = new FirstCreatedPool(internals.device) as unknown as BufferManager;
  cacheBindGroups(internals.device, cacheLimit);
  skipUnchangedUniforms(internals.queue);
  return backend;
}

/** Distinct bind groups kept; a ResNet-50 step makes about 3,000, a ViT-S/16 step 1,400. */
const DEFAULT_CACHE_LIMIT = 32_768;

interface Buffer {
  readonly size: number;
  readonly usage: number;
  destroy(): void;
}

interface BufferManager {
  acquireBuffer(size: number, usage: number, mappedAtCreation?: boolean, reuse?: boolean): Buffer;
  releaseBuffer(buffer: Buffer, reuse?: boolean): void;
}

interface BindGroupEntry {
  binding: number;
  resource: { buffer?: object; offset?: number; size?: number } | object;
}

interface Device {
  createBuffer(descriptor: { size: number; usage: number; mappedAtCreation: boolean }): Buffer;
  createBindGroup(descriptor: { layout: object; entries: BindGroupEntry[]; label?: string }): unknown;
}

interface Queue {
  writeBuffer(buffer: Buffer, bufferOffset: number, data: ArrayBuffer | ArrayBufferView, dataOffset?: number, size?: number): void;
}

interface BackendInternals {
  bufferManager: BufferManager;
  device: Device;
  queue: Queue;
}

// Serial numbers, sizes and pool keys ride on the Dawn objects themselves: a property read takes a
// few nanoseconds, a WeakMap lookup three times that, and Dawn's own `size` getter about 100.
const SERIAL = Symbol('bt-platform serial');
const POOL_KEY = Symbol('bt-platform pool key');
const LAST_UNIFORMS = Symbol('bt-platform last uniforms');
let nextSerial = 1;
const serialOf = (object: object): number => ((object as { [SERIAL]?: number })[SERIAL] ??= nextSerial++);

interface PooledBuffer extends Buffer {
  [SERIAL]: number;
  [POOL_KEY]: number;
  [LAST_UNIFORMS]?: Uint8Array;
}

/**
 * tfjs-backend-webgpu's BufferManager (4.22) with the same members and counters, but each free
 * list is kept newest first, so that `pop()` takes the oldest buffer, and buffers in use are a set
 * (tfjs searches an array for each release).
 */
class FirstCreatedPool implements BufferManager {
  numUsedBuffers = 0;
  numFreeBuffers = 0;
  numBytesUsed = 0;
  numBytesAllocated = 0;
  private free = new Map<number, PooledBuffer[]>();
  private used = new Set<PooledBuffer>();
  private disposed = false;

  constructor(private readonly device: Device) {}

  acquireBuffer(size: number, usage: number, mappedAtCreation = false, reuse = true): Buffer {
    const key = keyOf(size, usage);
    let buffer = reuse ? this.free.get(key)?.pop() : undefined;
    if (buffer) this.numFreeBuffers--;
    else {
      buffer = this.device.createBuffer({ size, usage, mappedAtCreation }) as PooledBuffer;
      buffer[SERIAL] = nextSerial++;
      buffer[POOL_KEY] = key;
      this.numBytesAllocated += size;
    }
    this.used.add(buffer);
    this.numUsedBuffers++;
    this.numBytesUsed += size;
    return buffer;
  }

  releaseBuffer(released: Buffer, reuse = true): void {
    const buffer = released as PooledBuffer;
    // Buffers still held when the backend was disposed are already destroyed.
    if (this.disposed) return;
    if (!this.used.delete(buffer)) throw new Error('Cannot find the buffer in buffer manager');
    const size = Math.floor(buffer[POOL_KEY] / 1024);
    this.numUsedBuffers--;
    this.numBytesUsed -= size;
    if (!reuse) {
      buffer.destroy();
      this.numBytesAllocated -= size;
      return;
    }
    let list = this.free.get(buffer[POOL_KEY]);
    if (!list) this.free.set(buffer[POOL_KEY], (list = []));
    // Binary search for the place that keeps the list in descending serial order.
    const n = buffer[SERIAL];
    let low = 0;
    let high = list.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (list[mid][SERIAL] > n) low = mid + 1;
      else high = mid;
    }
    list.splice(low, 0, buffer);
    this.numFreeBuffers++;
  }

  getNumUsedBuffers(): number {
    return this.numUsedBuffers;
  }

  getNumFreeBuffers(): number {
    return this.numFreeBuffers;
  }

  dispose(): void {
    for (const list of this.free.values()) for (const buffer of list) buffer.destroy();
    for (const buffer of this.used) buffer.destroy();
    this.free = new Map();
    this.used = new Set();
    this.numUsedBuffers = this.numFreeBuffers = this.numBytesUsed = this.numBytesAllocated = 0;
    this.disposed = true;
  }
}

// Usage flags take 10 bits; sizes stay far below 2^43 bytes, so the key is an exact integer.
const keyOf = (size: number, usage: number) => size * 1024 + usage;

/**
 * A trie of maps keyed by numbers: the layout, then for each entry its buffer and binding
 * (positive), and its offset (negative) and size when given.
 */
type Trie = Map<number, Trie | unknown>;
const LEAF = -2;

function cacheBindGroups(device: Device, limit: number): void {
  // Looked up on each miss, not bound once, so that a wrapper installed later (GpuWorkCounter) sees it.
  const prototype = Object.getPrototypeOf(device) as Device;
  let root: Trie = new Map();
  let size = 0;
  device.createBindGroup = (descriptor) => {
    const node = nodeFor(root, descriptor);
    if (!node) return prototype.createBindGroup.call(device, descriptor);
    let group = node.get(LEAF);
    if (group === undefined) {
      group = prototype.createBindGroup.call(device, descriptor);
      // Past the limit the steps do not repeat (or repeat too much to keep): start again.
      if (++size > limit) {
        root = new Map();
        size = 1;
        nodeFor(root, descriptor)!.set(LEAF, group);
      } else node.set(LEAF, group);
    }
    return group;
  };
}

/** The trie node of this descriptor; undefined when an entry is not a buffer (a texture, a sampler). */
function nodeFor(root: Trie, descriptor: { layout: object; entries: BindGroupEntry[] }): Trie | undefined {
  let node = child(root, serialOf(descriptor.layout));
  for (const entry of descriptor.entries) {
    const resource = entry.resource as { buffer?: object; offset?: number; size?: number };
    if (resource.buffer === undefined || entry.binding >= 1024) return undefined;
    node = child(node, serialOf(resource.buffer) * 1024 + entry.binding);
    if (resource.offset !== undefined || resource.size !== undefined) node = child(child(node, -3 - (resource.offset ?? 0)), resource.size ?? -1);
  }
  return node;
}

function child(node: Trie, key: number): Trie {
  let next = node.get(key) as Trie | undefined;
  if (!next) node.set(key, (next = new Map()));
  return next;
}

const UNIFORM = 0x40; // GPUBufferUsage.UNIFORM

/**
 * tfjs writes each dispatch's uniforms into a pooled uniform buffer it holds until the queue is
 * submitted, so no dispatch waiting in the queue can see a later write to its buffer. A write of
 * the bytes the buffer already holds changes nothing and is skipped.
 */
function skipUnchangedUniforms(queue: Queue): void {
  const prototype = Object.getPrototypeOf(queue) as Queue;
  queue.writeBuffer = (target, bufferOffset, data, dataOffset = 0, size) => {
    const buffer = target as PooledBuffer;
    if (bufferOffset !== 0 || !isArrayBuffer(data) || !(buffer[POOL_KEY] % 1024 & UNIFORM)) {
      return prototype.writeBuffer.call(queue, target, bufferOffset, data, dataOffset, size);
    }
    const bytes = new Uint8Array(data, dataOffset, size ?? data.byteLength - dataOffset);
    if (!sameBytes(buffer[LAST_UNIFORMS], bytes)) {
      prototype.writeBuffer.call(queue, target, bufferOffset, data, dataOffset, size);
      buffer[LAST_UNIFORMS] = bytes.slice();
    }
  };
}

// Not `instanceof`, which fails for a buffer from another realm (a VM context, a worker).
const isArrayBuffer = (data: unknown): data is ArrayBuffer => Object.prototype.toString.call(data) === '[object ArrayBuffer]';

function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  if (!a || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
