import * as tf from '@tensorflow/tfjs';
import { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { installWasmMatMul } from './WasmMatMul.js';
import { installWasmSharing } from './WasmShareKernels.js';

type Info = tf.TensorInfo;
type Inputs = Info | Info[] | null | undefined;
interface CpuBackendLike extends tf.KernelBackend {
  write(values: tf.backend_util.BackendValues | null, shape: number[], dtype: tf.DataType): tf.DataId;
  readSync(dataId: tf.DataId): tf.backend_util.BackendValues;
  disposeData(dataId: tf.DataId, force?: boolean): boolean;
  data: { get(dataId: tf.DataId): { complexTensorInfos?: { real: Info; imag: Info } } | undefined };
}

/**
 * Kernels the `cpu` backend registers and the `wasm` backend lacks (tfjs 4.22: Conv2DBackpropFilter,
 * UnsortedSegmentSum, Einsum, DepthwiseConv2dNativeBackprop*, the complex and ragged kernels, …),
 * computed from the live registry so that a tfjs upgrade shrinks the list by itself.
 */
export function missingWasmKernels(): string[] {
  const wasm = new Set(tf.getKernelsForBackend('wasm').map((k) => k.kernelName));
  return tf
    .getKernelsForBackend('cpu')
    .map((k) => k.kernelName)
    .filter((name) => !wasm.has(name));
}

/**
 * Registers, for every kernel that `cpu` has and `wasm` lacks, a `wasm` kernel that copies its inputs
 * to the `cpu` backend, runs the `cpu` kernel there and copies the outputs back. Without it a model
 * that trains on `cpu` fails on `wasm` with "kernel not registered" (e.g. any convolution's weight
 * gradient, or the gradient of gather). Also makes Identity and Cast share data instead of copying
 * (installWasmSharing), and sends transposed matrix products through XNNPACK (installWasmMatMul).
 * Idempotent; returns every kernel name bridged so far.
 */
export function installWasmBridge(): string[] {
  allowComplexReads();
  installWasmSharing();
  installWasmMatMul();
  for (const name of missingWasmKernels()) {
    const cpuKernel = tf.getKernel(name, 'cpu');
    if (!cpuKernel) continue;
    tf.registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc: bridgeTo(cpuKernel.kernelFunc) });
    bridged.add(name);
  }
  return [...bridged];
}

const bridged = new Set<string>();

function bridgeTo(cpuKernelFunc: tf.KernelFunc): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const wasm = backend as unknown as CpuBackendLike;
    const cpu = tf.engine().findBackend('cpu') as unknown as CpuBackendLike;
    const temps: Info[] = [];
    const toCpu = (info: Info): Info => {
      const copy = copyTo(wasm, cpu, info);
      temps.push(copy);
      return copy;
    };
    const cpuInputs: Record<string, Inputs> | Inputs[] = Array.isArray(inputs) ? [] : {};
    for (const [key, value] of Object.entries(inputs as Record<string, Inputs>)) {
      (cpuInputs as Record<string, Inputs>)[key] = value == null ? value : Array.isArray(value) ? value.map(toCpu) : toCpu(value);
    }
    try {
      const out = cpuKernelFunc({ inputs: cpuInputs as tf.NamedTensorInfoMap, backend: cpu, attrs });
      const outs = Array.isArray(out) ? out : [out];
      const copies = outs.map((info) => copyTo(cpu, wasm, info));
      for (const info of outs) cpu.disposeData(info.dataId);
      return Array.isArray(out) ? copies : copies[0];
    } finally {
      for (const info of temps) cpu.disposeData(info.dataId);
    }
  };
}

/** Copies a tensor's data between backends; complex64 travels as interleaved (re, im) pairs, tfjs's flat form. */
function copyTo(from: CpuBackendLike, to: CpuBackendLike, info: Info): Info {
  if (info.dtype === 'complex64') {
    const parts = isCpu(from) ? from.data.get(info.dataId)?.complexTensorInfos : undefined;
    if (parts) {
      const re = from.readSync(parts.real.dataId) as Float32Array;
      const im = from.readSync(parts.imag.dataId) as Float32Array;
      return { dataId: to.write(tf.backend_util.mergeRealAndImagArrays(re, im), info.shape, 'complex64'), shape: info.shape, dtype: 'complex64' };
    }
    const flat = readWasmComplex(from, info);
    if (isCpu(to)) {
      const { real, imag } = tf.backend_util.splitRealAndImagArrays(flat);
      const re = { dataId: to.write(real, info.shape, 'float32'), shape: info.shape, dtype: 'float32' as const };
      const im = { dataId: to.write(imag, info.shape, 'float32'), shape: info.shape, dtype: 'float32' as const };
      const complex = tf.getKernel('Complex', 'cpu')!.kernelFunc({ inputs: { real: re, imag: im }, backend: to, attrs: {} }) as Info;
      to.disposeData(re.dataId);
      to.disposeData(im.dataId);
      return complex;
    }
    return { dataId: to.write(flat, info.shape, 'complex64'), shape: info.shape, dtype: 'complex64' };
  }
  return { dataId: to.write(from.readSync(info.dataId), info.shape, info.dtype), shape: info.shape, dtype: info.dtype };
}

let complexReadsAllowed = false;

/** Lets `dataSync()` read the complex64 tensors the bridged kernels (FFT, Complex) leave on wasm. */
function allowComplexReads(): void {
  if (complexReadsAllowed) return;
  complexReadsAllowed = true;
  const proto = BackendWasm.prototype as unknown as CpuBackendLike & { readSync(dataId: tf.DataId, start?: number, end?: number): tf.backend_util.BackendValues };
  const readSync = proto.readSync;
  proto.readSync = function (this: CpuBackendLike, dataId: tf.DataId, start?: number, end?: number) {
    const data = (this as unknown as { dataIdMap: { get(id: tf.DataId): { shape: number[]; dtype: tf.DataType } } }).dataIdMap.get(dataId);
    if (data?.dtype === 'complex64') return readWasmComplex(this, { dataId, shape: data.shape, dtype: 'complex64' }).subarray(2 * (start ?? 0), end == null ? undefined : 2 * end);
    return readSync.call(this, dataId, start, end);
  };
}

/** The wasm backend's readSync rejects complex64 although it stores it (as interleaved float pairs). */
function readWasmComplex(wasm: CpuBackendLike, info: Info): Float32Array {
  const { wasm: module, dataIdMap } = wasm as unknown as { wasm: { HEAPU8: Uint8Array }; dataIdMap: { get(id: tf.DataId): { memoryOffset: number } } };
  const { memoryOffset } = dataIdMap.get(info.dataId);
  return new Float32Array(module.HEAPU8.buffer, memoryOffset, 2 * tf.util.sizeFromShape(info.shape)).slice();
}

function isCpu(backend: CpuBackendLike): boolean {
  return backend === (tf.engine().findBackend('cpu') as unknown as CpuBackendLike);
}
