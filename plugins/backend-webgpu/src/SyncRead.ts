import * as tf from '@tensorflow/tfjs';
import type { DeviceErrors } from './DeviceErrors.js';
import { mapReadSync } from './SyncReadback.js';

interface GpuBufferLike {
  readonly size: number;
  readonly mapState: 'unmapped' | 'pending' | 'mapped';
  mapAsync(mode: number): Promise<void>;
  getMappedRange(): ArrayBuffer;
  unmap(): void;
}

interface TensorData {
  dtype: tf.DataType;
  values: tf.backend_util.BackendValues | null;
  resource: GpuBufferLike | null;
  complexTensorInfos?: { real: tf.TensorInfo; imag: tf.TensorInfo };
  /** Set for a tensor made from a caller's GPU buffer, which the backend does not own. */
  external?: boolean;
}

/** The members of tfjs-backend-webgpu's `WebGPUBackend` (4.22) that this plugin uses. */
export interface WebGpuBackendLike extends tf.KernelBackend {
  tensorMap: { get(dataId: tf.DataId): TensorData; numDataIds(): number };
  bufferManager: {
    acquireBuffer(size: number, usage: number): GpuBufferLike;
    releaseBuffer(buffer: GpuBufferLike, reuse?: boolean): void;
    numUsedBuffers: number;
    numFreeBuffers: number;
  };
  pipelineCache: Record<string, unknown>;
  commandEncoder: { copyBufferToBuffer(src: GpuBufferLike, srcOffset: number, dst: GpuBufferLike, dstOffset: number, size: number): void } | null;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
  convertAndCacheOnCPU(dataId: tf.DataId, values: tf.backend_util.BackendValues): tf.backend_util.BackendValues;
  readSync(dataId: tf.DataId): tf.backend_util.BackendValues;
  read(dataId: tf.DataId): Promise<tf.backend_util.BackendValues>;
  runWebGPUProgram(program: { constructor: { name: string } }, inputs: tf.TensorInfo[], outputDtype: tf.DataType, uniforms?: unknown, output?: tf.TensorInfo): tf.TensorInfo;
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: tf.backend_util.BackendValues): tf.TensorInfo;
  disposeData(dataId: tf.DataId, force?: boolean): boolean;
}

const globals = globalThis as unknown as { GPUBufferUsage: { COPY_DST: number; MAP_READ: number }; GPUMapMode: { READ: number } };

/**
 * Replaces the backend's `readSync` (which needs `OffscreenCanvas`, a browser API) with a blocking
 * buffer mapping (SyncReadback), so that `dataSync()` works in Node as on every other backend.
 * Every read, synchronous or not, first raises any error the device reported (DeviceErrors).
 */
export function installSyncRead<T extends WebGpuBackendLike>(backend: T, errors: DeviceErrors): T {
  const read = backend.read;
  backend.read = async function (this: T, dataId: tf.DataId) {
    const values = await read.call(this, dataId);
    errors.check();
    return values;
  };
  backend.readSync = function readSync(this: T, dataId: tf.DataId): tf.backend_util.BackendValues {
    errors.check();
    const data = this.tensorMap.get(dataId);
    if (data.values != null || data.dtype === 'string') return data.values!;
    if (data.dtype === 'complex64') {
      const real = this.readSync(data.complexTensorInfos!.real.dataId) as Float32Array;
      const imag = this.readSync(data.complexTensorInfos!.imag.dataId) as Float32Array;
      return this.convertAndCacheOnCPU(dataId, tf.backend_util.mergeRealAndImagArrays(real, imag));
    }
    const bytes = readBuffer(this, data.resource!);
    errors.check();
    return this.convertAndCacheOnCPU(dataId, tf.util.convertBackendValuesAndArrayBuffer(bytes, data.dtype));
  };
  return backend;
}

function readBuffer(backend: WebGpuBackendLike, buffer: GpuBufferLike): ArrayBuffer {
  const { GPUBufferUsage, GPUMapMode } = globals;
  const staging = backend.bufferManager.acquireBuffer(buffer.size, GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ);
  backend.ensureCommandEncoderReady();
  backend.endComputePassEncoder();
  backend.commandEncoder!.copyBufferToBuffer(buffer, 0, staging, 0, buffer.size);
  backend.submitQueue();
  try {
    return mapReadSync(staging, GPUMapMode.READ);
  } finally {
    backend.bufferManager.releaseBuffer(staging);
  }
}
