import * as tf from '@tensorflow/tfjs';

let installed = false;

/**
 * tfjs-wasm multiplies with XNNPACK only when neither operand is transposed and both are single
 * matrices; every other product runs a scalar triple loop. A training step's gradient products
 * (aᵀ·dy and dy·wᵀ of every linear layer) are transposed single matrices, so they all took the slow
 * loop. Transposing the operand first (a copy, O(rows·cols)) sends them through XNNPACK. Batched
 * products (attention's per-head ones) keep tfjs-wasm's own path. Idempotent.
 */
export function installWasmMatMul(): void {
  const original = tf.getKernel('BatchMatMul', 'wasm');
  if (!original || installed) return;
  installed = true;
  tf.unregisterKernel('BatchMatMul', 'wasm');
  tf.registerKernel({ ...original, kernelFunc: untransposed(original.kernelFunc) });
}

const single = (info: tf.TensorInfo) => info.shape.slice(0, -2).every((d) => d === 1);

function untransposed(fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
    if ((!transposeA && !transposeB) || a.dtype !== 'float32' || b.dtype !== 'float32' || !single(a) || !single(b)) return fallback(args);
    const transpose = tf.getKernel('Transpose', 'wasm')!.kernelFunc;
    const backend = args.backend as tf.KernelBackend;
    const temps: tf.TensorInfo[] = [];
    const flip = (x: tf.TensorInfo) => {
      const rank = x.shape.length;
      const perm = [...Array(rank - 2).keys(), rank - 1, rank - 2];
      const t = transpose({ inputs: { x }, attrs: { perm }, backend }) as tf.TensorInfo;
      temps.push(t);
      return t;
    };
    try {
      return fallback({ ...args, inputs: { a: transposeA ? flip(a) : a, b: transposeB ? flip(b) : b }, attrs: { ...args.attrs, transposeA: false, transposeB: false } });
    } finally {
      for (const t of temps) backend.disposeData(t.dataId);
    }
  };
}
