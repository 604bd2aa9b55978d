import * as tf from '@tensorflow/tfjs';

export interface MatMulPlan {
  outShape: number[];
  m: number;
  n: number;
  k: number;
  aOffsets: Int32Array;
  bOffsets: Int32Array;
}

const plans = new Map<string, MatMulPlan>();

/** Shapes and per-batch element offsets of a (broadcasting) batched matmul, cached by shape. */
export function planMatMul(aShape: number[], bShape: number[], transA: boolean, transB: boolean): MatMulPlan {
  const key = `${aShape}|${bShape}|${transA}|${transB}`;
  const cached = plans.get(key);
  if (cached) return cached;
  const ar = aShape.length;
  const br = bShape.length;
  const m = transA ? aShape[ar - 1] : aShape[ar - 2];
  const k = transA ? aShape[ar - 2] : aShape[ar - 1];
  const kb = transB ? bShape[br - 1] : bShape[br - 2];
  const n = transB ? bShape[br - 2] : bShape[br - 1];
  if (k !== kb) throw new Error(`Error in matMul: inner shapes (${k}) and (${kb}) of Tensors with shapes ${aShape} and ${bShape} and transposeA=${transA} and transposeB=${transB} must match.`);
  const aBatch = aShape.slice(0, -2);
  const bBatch = bShape.slice(0, -2);
  const batchShape = tf.backend_util.assertAndGetBroadcastShape(aBatch, bBatch);
  const batch = tf.util.sizeFromShape(batchShape);
  const aOffsets = new Int32Array(batch);
  const bOffsets = new Int32Array(batch);
  const rank = batchShape.length;
  const aDims = [...new Array(rank - aBatch.length).fill(1), ...aBatch];
  const bDims = [...new Array(rank - bBatch.length).fill(1), ...bBatch];
  const index = new Array(rank).fill(0);
  for (let i = 0; i < batch; i++) {
    let ai = 0;
    let bi = 0;
    for (let d = 0; d < rank; d++) {
      ai = ai * aDims[d] + (aDims[d] === 1 ? 0 : index[d]);
      bi = bi * bDims[d] + (bDims[d] === 1 ? 0 : index[d]);
    }
    aOffsets[i] = ai * m * k;
    bOffsets[i] = bi * k * n;
    for (let d = rank - 1; d >= 0; d--) {
      if (++index[d] < batchShape[d]) break;
      index[d] = 0;
    }
  }
  const plan = { outShape: [...batchShape, m, n], m, n, k, aOffsets, bOffsets };
  if (plans.size > 4096) plans.clear();
  plans.set(key, plan);
  return plan;
}
