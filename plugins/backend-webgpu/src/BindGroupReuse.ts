import type { WebGpuBackendLike } from './SyncRead.js';

/**
 * Creating a bind group is the most expensive Dawn call a dispatch makes (about 25 µs of host time
 * on the 2-core bench machine, a third of a ViT step's host time). A bind group is immutable, so
 * one made for the same layout and the same buffer ranges can be used again. Two changes make
 * that pay:
 * - The buffer pool hands out, among the free buffers of the requested size and usage, the one it
 *   created first (tfjs's pool hands out the one released last). Which buffers are free then
 *   depends only on which requests came before, not on the order of releases, so a training step
 *   that repeats the same ops gets the same buffers every time.
 * - `createBindGroup` returns the bind group it made earlier for the same layout and entries.
 * On the null device every bind group of a ViT step repeats from the fifth step on.
 */
export function reuseBindGroups<B extends WebGpuBackendLike>(backend: B, cacheLimit = DEFAULT_CACHE_LIMIT): B {
  const internals = backend as unknown as BackendInternals;
  firstCreatedFirst(internals.bufferManager);
  cacheBindGroups(internals.device, cacheLimit);
  return backend;
}

/** Enough for the distinct bind groups of a few large steps (a ResNet-50 step makes about 3,000). */
const DEFAULT_CACHE_LIMIT = 16_384;

interface Buffer {
  readonly size: number;
  readonly usage: number;
}

interface BufferManager {
  freeBuffers: Map<string, Buffer[]>;
  acquireBuffer(size: number, usage: number, mappedAtCreation?: boolean, reuse?: boolean): Buffer;
  releaseBuffer(buffer: Buffer, reuse?: boolean): void;
}

interface BindGroupEntry {
  binding: number;
  resource: { buffer?: object; offset?: number; size?: number } | object;
}

interface Device {
  createBindGroup(descriptor: { layout: object; entries: BindGroupEntry[]; label?: string }): unknown;
}

interface BackendInternals {
  bufferManager: BufferManager;
  device: Device;
}

const serial = new WeakMap<object, number>();
let nextSerial = 1;
const serialOf = (object: object): number => {
  let n = serial.get(object);
  if (n === undefined) serial.set(object, (n = nextSerial++));
  return n;
};

/**
 * Keeps each free list ordered by creation, newest first, so that tfjs's `pop()` takes the oldest.
 * A release inserts at its place (binary search) instead of appending.
 */
function firstCreatedFirst(manager: BufferManager): void {
  const acquire = manager.acquireBuffer.bind(manager);
  const release = manager.releaseBuffer.bind(manager);
  manager.acquireBuffer = (size, usage, mappedAtCreation, reuse) => {
    const buffer = acquire(size, usage, mappedAtCreation, reuse);
    serialOf(buffer);
    return buffer;
  };
  manager.releaseBuffer = (buffer, reuse = true) => {
    release(buffer, reuse);
    const free = manager.freeBuffers.get(`${buffer.size}_${buffer.usage}`);
    if (!reuse || !free || free[free.length - 1] !== buffer) return;
    const n = serialOf(buffer);
    let low = 0;
    let high = free.length - 1;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (serialOf(free[mid]) > n) low = mid + 1;
      else high = mid;
    }
    if (low < free.length - 1) free.splice(low, 0, free.pop()!);
  };
}

function cacheBindGroups(device: Device, limit: number): void {
  // Looked up on each miss, not bound once, so that a wrapper installed later (GpuWorkCounter) sees it.
  const prototype = Object.getPrototypeOf(device) as Device;
  const create: Device['createBindGroup'] = (descriptor) => prototype.createBindGroup.call(device, descriptor);
  const cache = new Map<string, unknown>();
  device.createBindGroup = (descriptor) => {
    const key = keyOf(descriptor);
    if (key === undefined) return create(descriptor);
    let group = cache.get(key);
    if (group === undefined) {
      group = create(descriptor);
      // Oldest first out: a Map iterates in insertion order.
      if (cache.size >= limit) cache.delete(cache.keys().next().value!);
      cache.set(key, group);
    }
    return group;
  };
}

/** The layout and every buffer range; undefined when an entry is not a buffer (a texture, a sampler). */
function keyOf(descriptor: { layout: object; entries: BindGroupEntry[] }): string | undefined {
  let key = `${serialOf(descriptor.layout)}`;
  for (const entry of descriptor.entries) {
    const resource = entry.resource as { buffer?: object; offset?: number; size?: number };
    if (resource.buffer === undefined) return undefined;
    key += `|${entry.binding}:${serialOf(resource.buffer)}:${resource.offset ?? 0}:${resource.size ?? ''}`;
  }
  return key;
}
