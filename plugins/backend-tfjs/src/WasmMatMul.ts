import * as tf from '@tensorflow/tfjs';
import { planMatMul } from './matMulPlan.js';
import { simdGemm, type Gemm } from './SimdGemm.js';

let installed = false;

/**
 * tfjs-wasm multiplies with XNNPACK only when neither operand is transposed and both are single
 * matrices; every other product runs a scalar triple loop. Replaced here:
 * - transposed single matrices (every linear layer's gradient products aᵀ·dy and dy·wᵀ) are
 *   transposed first (a copy, O(rows·cols)) and sent through XNNPACK;
 * - batched products (attention's per-head ones) run a SIMD kernel on the heap (SimdGemm), about
 *   8× faster than the scalar loop for a ViT's 65×16·16×65 heads.
 * Idempotent.
 */
export function installWasmMatMul(): void {
  const original = tf.getKernel('BatchMatMul', 'wasm');
  if (!original || installed) return;
  installed = true;
  tf.unregisterKernel('BatchMatMul', 'wasm');
  tf.registerKernel({ ...original, kernelFunc: matMul(original.kernelFunc) });
}

interface WasmBackendLike extends tf.KernelBackend {
  wasm: { asm?: { memory?: WebAssembly.Memory } };
  dataIdMap: { get(dataId: tf.DataId): { memoryOffset: number } };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
}

const single = (info: tf.TensorInfo) => info.shape.slice(0, -2).every((d) => d === 1);

/** One kernel per heap (a backend re-created after `tf.removeBackend` has a new one). */
const gemms = new WeakMap<WebAssembly.Memory, Gemm | undefined>();
function gemmFor(backend: WasmBackendLike): Gemm | undefined {
  const memory = backend.wasm.asm?.memory;
  if (!(memory instanceof WebAssembly.Memory)) return undefined;
  if (!gemms.has(memory)) gemms.set(memory, simdGemm(memory));
  return gemms.get(memory);
}

function matMul(fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
    if (a.dtype !== 'float32' || b.dtype !== 'float32') return fallback(args);
    const backend = args.backend as WasmBackendLike;
    const batched = !single(a) || !single(b);
    const gemm = batched ? gemmFor(backend) : undefined;
    if (!gemm && !transposeA && !transposeB) return fallback(args);
    const temps: tf.TensorInfo[] = [];
    const flip = (x: tf.TensorInfo) => {
      const t = transposeLastTwo(backend, x);
      temps.push(t);
      return t;
    };
    try {
      if (!gemm) return fallback({ ...args, inputs: { a: transposeA ? flip(a) : a, b: transposeB ? flip(b) : b }, attrs: { ...args.attrs, transposeA: false, transposeB: false } });
      // The kernel reads A with any strides but B row by row.
      return batchedProduct(backend, gemm, a, transposeB ? flip(b) : b, transposeA);
    } finally {
      for (const t of temps) backend.disposeData(t.dataId);
    }
  };
}

function transposeLastTwo(backend: tf.KernelBackend, x: tf.TensorInfo): tf.TensorInfo {
  const rank = x.shape.length;
  const perm = [...Array(rank - 2).keys(), rank - 1, rank - 2];
  return tf.getKernel('Transpose', 'wasm')!.kernelFunc({ inputs: { x }, attrs: { perm }, backend }) as tf.TensorInfo;
}

function batchedProduct(backend: WasmBackendLike, gemm: Gemm, a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean): tf.TensorInfo {
  const { outShape, m, n, k, aOffsets, bOffsets } = planMatMul(a.shape, b.shape, transposeA, false);
  const out = backend.makeOutput(outShape, 'float32');
  const at = (info: tf.TensorInfo) => backend.dataIdMap.get(info.dataId).memoryOffset;
  const [aAt, bAt, outAt] = [at(a), at(b), at(out)];
  const [rowStep, colStep] = transposeA ? [4, 4 * m] : [4 * k, 4];
  for (let i = 0; i < aOffsets.length; i++) gemm(aAt + 4 * aOffsets[i], bAt + 4 * bOffsets[i], outAt + 4 * i * m * n, m, n, k, rowStep, colStep);
  return out;
}
