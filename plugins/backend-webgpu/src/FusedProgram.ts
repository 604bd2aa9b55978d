import * as tf from '@tensorflow/tfjs';
import { inProgram } from './GpuWorkCounter.js';
import type { WebGpuBackendLike } from './SyncRead.js';

/**
 * One compute dispatch with several outputs, which tfjs-backend-webgpu's own programs cannot have
 * (they write a single `result`). Its WGSL binds the outputs first (`@binding(0)` …), then the
 * inputs, then one uniform struct of 4-byte scalars.
 */
export interface FusedDispatch {
  /** Identifies the shader source (the pipeline cache key) and names it in counts and errors. */
  name: string;
  code: string;
  inputs: tf.TensorInfo[];
  /**
   * Each output: the shape of a new float32 tensor, a new tensor of another dtype (`{ shape,
   * dtype }`), or an existing tensor that the shader overwrites in place (returned with one more
   * reference, as a kernel returns a tensor it shares).
   */
  outputs: Array<number[] | NewOutput | tf.TensorInfo>;
  /** Scalars of the uniform struct, in declaration order. */
  uniforms: Array<{ type: 'float32' | 'uint32'; value: number }>;
  workgroups: [number, number?, number?];
}

interface GpuPipeline {
  getBindGroupLayout(index: number): unknown;
}

interface GpuInternals {
  device: {
    createShaderModule(descriptor: { code: string; label?: string }): unknown;
    createComputePipeline(descriptor: { compute: { module: unknown; entryPoint: string }; label?: string; layout: 'auto' }): GpuPipeline;
    createBindGroup(descriptor: { layout: unknown; entries: Array<{ binding: number; resource: unknown }> }): unknown;
  };
  commandEncoder: { beginComputePass(descriptor: object): ComputePass } | null;
  computePassEncoder: ComputePass | null;
  commandQueueOwnedIds: WeakSet<object>;
  dispatchCountInPass: number;
  activeTimers?: Array<{ name: string; query: Promise<number> | number }> | null;
  uploadToGPU(dataId: tf.DataId): void;
  tensorToBinding(info: tf.TensorInfo): unknown;
  makeUniforms(uniforms: Array<{ type: string; data: number[] }>): unknown;
}

interface ComputePass {
  setPipeline(pipeline: GpuPipeline): void;
  setBindGroup(index: number, group: unknown): void;
  dispatchWorkgroups(x: number, y?: number, z?: number): void;
}

interface NewOutput {
  shape: number[];
  dtype: 'float32' | 'int32';
  dataId?: undefined;
}

const isNew = (o: number[] | NewOutput | tf.TensorInfo): o is number[] | NewOutput => Array.isArray(o) || o.dataId === undefined;
const newShape = (o: number[] | NewOutput) => (Array.isArray(o) ? o : o.shape);
const newDtype = (o: number[] | NewOutput) => (Array.isArray(o) ? 'float32' : o.dtype);

const pipelines = new WeakMap<object, Map<string, { pipeline: GpuPipeline; layout: unknown }>>();

/**
 * Whether a kernel may overwrite the data of `written` in place: each is the only reference to its
 * data (so no other tensor sees the change), is not a caller's external GPU buffer, no two are the
 * same data, and none is also among the tensors the same dispatch reads (`read`).
 */
export function writableInPlace(backendLike: object, written: tf.TensorInfo[], read: tf.TensorInfo[] = []): boolean {
  const backend = backendLike as unknown as WebGpuBackendLike;
  const ids = new Set(written.map((info) => info.dataId));
  return (
    ids.size === written.length &&
    !read.some((info) => ids.has(info.dataId)) &&
    written.every((info) => (info.dtype === 'float32' || info.dtype === 'int32') && backend.refCount(info.dataId) === 1 && !backend.tensorMap.get(info.dataId).external)
  );
}

/** Records `dispatch` on the backend's command stream, as `runWebGPUProgram` does for tfjs's programs. */
export function runFusedDispatch(backendLike: object, dispatch: FusedDispatch): tf.TensorInfo[] {
  const backend = backendLike as unknown as WebGpuBackendLike & GpuInternals;
  // An input a kernel receives is the caller's Tensor; the engine would hand that very object back
  // as the output instead of a new tensor, so an overwritten one is returned as a plain TensorInfo.
  const outputs = dispatch.outputs.map((o) => (isNew(o) ? backend.makeTensorInfo(newShape(o), newDtype(o)) : { dataId: o.dataId, shape: o.shape, dtype: o.dtype }));
  // WebGPU cannot bind an empty buffer; an empty input leaves sums at zero and tensors written in place as they were.
  if ([...outputs, ...dispatch.inputs].some((info) => tf.util.sizeFromShape(info.shape) === 0)) {
    dispatch.outputs.forEach((o, i) => {
      if (!isNew(o)) backend.incRef(o.dataId);
      else backend.tensorMap.get(outputs[i].dataId).values = newDtype(o) === 'int32' ? new Int32Array(tf.util.sizeFromShape(newShape(o))) : new Float32Array(tf.util.sizeFromShape(newShape(o)));
    });
    return outputs;
  }
  inProgram(dispatch.name, () => record(backend, dispatch, outputs));
  for (const output of dispatch.outputs) {
    if (isNew(output)) continue;
    backend.incRef(output.dataId);
    // A value read back earlier is cached on the host; it is stale now.
    backend.tensorMap.get(output.dataId).values = null;
  }
  return outputs;
}

function record(backend: WebGpuBackendLike & GpuInternals, dispatch: FusedDispatch, outputs: tf.TensorInfo[]): void {
  for (const info of [...outputs, ...dispatch.inputs]) backend.uploadToGPU(info.dataId);
  const { pipeline, layout } = pipelineFor(backend, dispatch);
  // A uniform struct is padded to 16 bytes, whatever the scalars.
  const scalars = dispatch.uniforms.map((u) => ({ type: u.type, data: [u.value] }));
  while (scalars.length % 4) scalars.push({ type: 'uint32', data: [0] });
  const bindings = [...outputs, ...dispatch.inputs].map((info) => backend.tensorToBinding(info));
  bindings.push(backend.makeUniforms(scalars));
  const group = backend.device.createBindGroup({ layout, entries: bindings.map((resource, binding) => ({ binding, resource })) });
  // Buffers in a pending command stay allocated until the queue is submitted.
  for (const info of [...outputs, ...dispatch.inputs]) backend.commandQueueOwnedIds.add(info.dataId);
  backend.ensureCommandEncoderReady();
  const timed = backend.activeTimers != null;
  if (timed) backend.endComputePassEncoder();
  backend.computePassEncoder ??= backend.commandEncoder!.beginComputePass({});
  backend.computePassEncoder.setPipeline(pipeline);
  backend.computePassEncoder.setBindGroup(0, group);
  const [x, y = 1, z = 1] = dispatch.workgroups;
  backend.computePassEncoder.dispatchWorkgroups(x, y, z);
  backend.dispatchCountInPass++;
  if (timed) {
    // tf.profile: the pass ends here as tfjs's own programs' do; no timestamp, so 0 ms.
    backend.endComputePassEncoder();
    backend.activeTimers!.push({ name: dispatch.name, query: 0 });
  } else if ((tf.env().get('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE') as number) <= backend.dispatchCountInPass) {
    backend.endComputePassEncoder();
    backend.submitQueue();
  }
}

function pipelineFor(backend: GpuInternals, dispatch: FusedDispatch): { pipeline: GpuPipeline; layout: unknown } {
  let cache = pipelines.get(backend);
  if (!cache) pipelines.set(backend, (cache = new Map()));
  let entry = cache.get(dispatch.name);
  if (!entry) {
    const pipeline = backend.device.createComputePipeline({
      compute: { module: backend.device.createShaderModule({ code: dispatch.code, label: dispatch.name }), entryPoint: 'main' },
      label: dispatch.name,
      layout: 'auto',
    });
    entry = { pipeline, layout: pipeline.getBindGroupLayout(0) };
    cache.set(dispatch.name, entry);
  }
  return entry;
}
