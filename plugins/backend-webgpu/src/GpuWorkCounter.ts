import * as tf from '@tensorflow/tfjs';
import type { WebGpuBackendLike } from './SyncRead.js';

/** What the host asked of the GPU between two snapshots. */
export interface GpuWork {
  /** tfjs programs run (`runWebGPUProgram` calls that reached the GPU), by program class. */
  programs: Record<string, number>;
  /** `dispatchWorkgroups` calls: one per program. */
  dispatches: number;
  /** `GPUQueue.submit` calls: tfjs batches up to WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE dispatches per submit. */
  submits: number;
  /** Bind groups Dawn created (`createBindGroup` calls that missed the backend's cache, BindGroupReuse). */
  bindGroups: number;
  /** Compute pipelines created (each a shader compilation), by the program that asked. */
  pipelines: Record<string, number>;
  /** Host milliseconds spent inside Dawn's calls, by call (`createBindGroup`, `writeBuffer`, …). */
  dawnMs: Record<string, number>;
}

type Method = (...args: unknown[]) => unknown;

interface Counts {
  programs: Map<string, number>;
  dispatches: number;
  submits: number;
  bindGroups: number;
  pipelines: Map<string, number>;
  dawnMs: Map<string, number>;
  program?: string;
}

let counts: Counts | undefined;
let prototypesWrapped = false;
const wrappedBackends = new WeakSet<object>();

/** Wraps a Dawn method to count it (when `count` is given) and time it, while counting is on. */
function wrap(proto: Record<string, unknown> | undefined, name: string, count?: (c: Counts) => void): void {
  const original = proto?.[name] as Method | undefined;
  if (!proto || !original) return;
  proto[name] = function (this: unknown, ...args: unknown[]) {
    const c = counts;
    if (!c) return original.apply(this, args);
    count?.(c);
    const start = performance.now();
    try {
      return original.apply(this, args);
    } finally {
      c.dawnMs.set(name, (c.dawnMs.get(name) ?? 0) + performance.now() - start);
    }
  };
}

/** Dawn calls a dispatch's recording makes, timed but not counted. */
const TIMED: Array<[string, string[]]> = [
  ['GPUDevice', ['createBuffer', 'createCommandEncoder']],
  ['GPUQueue', ['writeBuffer']],
  ['GPUComputePassEncoder', ['setPipeline', 'setBindGroup', 'end']],
  ['GPUCommandEncoder', ['beginComputePass', 'finish', 'copyBufferToBuffer']],
];

const add = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);

/** Runs `fn` as the program `name`: pipelines it creates are counted under that name, and so is its dispatch. */
export function inProgram<T>(name: string, fn: () => T): T {
  const c = counts;
  if (!c) return fn();
  const outer = c.program;
  c.program = name;
  const before = c.dispatches;
  try {
    return fn();
  } finally {
    if (c.dispatches > before) add(c.programs, name);
    c.program = outer;
  }
}

/**
 * Starts counting the current `webgpu` backend's GPU work (for benchmarks and tests). Wraps Dawn's
 * prototypes and the backend's `runWebGPUProgram` once; each call resets the counts. `snapshot()`
 * returns the counts since the last snapshot (or the start).
 */
export function countGpuWork(): { snapshot(): GpuWork } {
  if (!prototypesWrapped) {
    prototypesWrapped = true;
    const g = globalThis as unknown as Record<string, { prototype: Record<string, unknown> } | undefined>;
    wrap(g.GPUComputePassEncoder?.prototype, 'dispatchWorkgroups', (c) => c.dispatches++);
    wrap(g.GPUQueue?.prototype, 'submit', (c) => c.submits++);
    wrap(g.GPUDevice?.prototype, 'createBindGroup', (c) => c.bindGroups++);
    for (const create of ['createComputePipeline', 'createComputePipelineAsync']) wrap(g.GPUDevice?.prototype, create, (c) => add(c.pipelines, c.program ?? 'outside a program'));
    for (const [type, methods] of TIMED) for (const method of methods) wrap(g[type]?.prototype, method);
  }
  const backend = tf.backend() as WebGpuBackendLike;
  if (!wrappedBackends.has(backend)) {
    wrappedBackends.add(backend);
    const run = backend.runWebGPUProgram;
    backend.runWebGPUProgram = function (program, ...rest) {
      return inProgram(program.constructor.name, () => run.call(this, program, ...rest));
    };
  }
  counts = { programs: new Map(), dispatches: 0, submits: 0, bindGroups: 0, pipelines: new Map(), dawnMs: new Map() };
  return {
    snapshot() {
      const c = counts!;
      const work: GpuWork = { programs: Object.fromEntries(c.programs), dispatches: c.dispatches, submits: c.submits, bindGroups: c.bindGroups, pipelines: Object.fromEntries(c.pipelines), dawnMs: Object.fromEntries(c.dawnMs) };
      c.programs = new Map();
      c.pipelines = new Map();
      c.dawnMs = new Map();
      c.dispatches = 0;
      c.submits = 0;
      c.bindGroups = 0;
      return work;
    },
  };
}
