import { interceptDawnPolling } from './SyncReadback.js';

/** The parts of the WebGPU API this plugin touches, typed here so that the plugin compiles without the optional packages. */
export interface GpuAdapterLike {
  readonly info?: Record<string, unknown>;
  readonly isFallbackAdapter?: boolean;
  readonly features: ReadonlySet<string>;
  readonly limits: Record<string, number>;
  requestDevice(descriptor?: { requiredFeatures?: string[]; requiredLimits?: Record<string, number> }): Promise<GpuDeviceLike>;
}

export interface GpuDeviceLike {
  readonly features: ReadonlySet<string>;
  onuncapturederror: ((event: { error: { constructor: { name: string }; message: string } }) => void) | null;
  readonly lost: Promise<{ reason?: string; message?: string }>;
  destroy(): void;
}

export interface GpuLike {
  requestAdapter(options?: { powerPreference?: 'high-performance' | 'low-power'; forceFallbackAdapter?: boolean }): Promise<GpuAdapterLike | null>;
}

interface DawnModule {
  create(flags: string[]): GpuLike;
  globals: Record<string, unknown>;
}

/** npm package names, kept in variables so that TypeScript does not require the optional packages. */
export const DAWN_PACKAGE = 'webgpu';
export const TFJS_WEBGPU_PACKAGE = '@tensorflow/tfjs-backend-webgpu';

let dawn: Promise<DawnModule> | undefined;
const instances = new Map<string, GpuLike>();

/**
 * A Dawn instance for `flags` (e.g. `['backend=null']`), with the WebGPU globals (`GPUBufferUsage`,
 * `GPUBuffer`, …) installed and `navigator.gpu` set, as tfjs-backend-webgpu expects of a browser.
 * Rejects when the `webgpu` package (Dawn's binding, a prebuilt binary) is missing or cannot load.
 */
export async function dawnInstance(flags: readonly string[] = []): Promise<GpuLike> {
  dawn ??= import(DAWN_PACKAGE).then((m: DawnModule) => {
    // The binding's own functions belong to the realm whose global it schedules its work on.
    const RealmFunction = m.create.constructor as FunctionConstructor;
    interceptDawnPolling(RealmFunction('return globalThis')() as typeof globalThis);
    Object.assign(globalThis, m.globals);
    cacheBindGroupLayouts(m.globals);
    return m;
  });
  let module: DawnModule;
  try {
    module = await dawn;
  } catch (error) {
    dawn = undefined;
    throw error;
  }
  const key = flags.join(' ');
  let gpu = instances.get(key);
  if (!gpu) {
    gpu = module.create([...flags]);
    instances.set(key, gpu);
  }
  const navigator = ((globalThis as { navigator?: object }).navigator ??= {});
  Object.defineProperty(navigator, 'gpu', { value: gpu, configurable: true, writable: true });
  return gpu;
}

/**
 * tfjs-backend-webgpu asks the pipeline for its bind group layout at every dispatch, and Dawn builds
 * a new layout object each time (10 µs of the ~200 µs a dispatch costs the host here, timed alone).
 * The layout of a pipeline never changes, so the first one is kept.
 */
function cacheBindGroupLayouts(globals: Record<string, unknown>): void {
  const proto = (globals.GPUComputePipeline as { prototype?: Record<string, unknown> } | undefined)?.prototype;
  const original = proto?.getBindGroupLayout as ((index: number) => unknown) | undefined;
  if (!proto || !original) return;
  const layouts = new WeakMap<object, Map<number, unknown>>();
  proto.getBindGroupLayout = function (this: object, index: number) {
    let byIndex = layouts.get(this);
    if (!byIndex) layouts.set(this, (byIndex = new Map()));
    if (!byIndex.has(index)) byIndex.set(index, original.call(this, index));
    return byIndex.get(index);
  };
}
