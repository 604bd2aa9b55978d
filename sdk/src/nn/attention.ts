import * as tf from '@tensorflow/tfjs';
import { FusedKernel, runFused } from './fusedKernel.js';

type AttentionFn = (qkv: tf.Tensor3D) => tf.Tensor3D;
const byHeadsAndScale = new Map<string, AttentionFn>();

/**
 * [B, N, 3·D] → the B·heads query, key and value matrices [B·heads, N, D/heads]. One 4-D transpose
 * and three slices: tfjs-wasm has fast 2- to 4-D transposes and an element-by-element one beyond.
 */
function splitHeads(qkv: tf.Tensor, heads: number): tf.Tensor[] {
  const [b, n, d3] = qkv.shape;
  const hd = d3 / 3 / heads;
  const byHead = tf.transpose(tf.reshape(qkv, [b, n, 3 * heads, hd]), [0, 2, 1, 3]);
  return [0, 1, 2].map((part) => tf.reshape(tf.slice(byHead, [0, part * heads, 0, 0], [b, heads, n, hd]), [b * heads, n, hd]));
}

function probabilities(q: tf.Tensor, k: tf.Tensor, scale: number): tf.Tensor3D {
  return tf.softmax(tf.matMul(tf.mul(q, scale), k, false, true)) as tf.Tensor3D;
}

/** [B·heads, N, hd] per head → [B, N, heads·hd]. */
function mergeHeads(x: tf.Tensor, b: number, heads: number): tf.Tensor {
  const [, n, hd] = x.shape;
  return tf.reshape(tf.transpose(tf.reshape(x, [b, heads, n, hd]), [0, 2, 1, 3]), [b, n, heads * hd]);
}

/**
 * Multi-head self-attention, softmax(q·kᵀ·scale)·v per head, from a packed projection [B, N, 3·D]
 * (q, k, v, each [heads, D/heads], as timm's qkv Linear writes them) to the heads' outputs merged
 * into [B, N, D]. A custom gradient keeps only the projection and the probabilities for the
 * backward pass; backends with `BtAttention`/`BtAttentionGrad` run the forward in one kernel and
 * the backward in two, with no head splitting or merging copies, writing the N×N matrix once each.
 * Callers that must see the probabilities use {@link attentionProbabilities}.
 */
export function attention(qkv: tf.Tensor3D, heads: number, scale: number): tf.Tensor3D {
  const key = `${heads}:${scale}`;
  let fn = byHeadsAndScale.get(key);
  if (!fn) byHeadsAndScale.set(key, (fn = attentionWithGrad(heads, scale)));
  return fn(qkv);
}

/** softmax(q·kᵀ·scale) of each head, [B·heads, N, N], as standard ops (for observers of attention maps). */
export function attentionProbabilities(qkv: tf.Tensor3D, heads: number, scale: number): tf.Tensor3D {
  return tf.tidy(() => {
    const [q, k] = splitHeads(qkv, heads);
    return probabilities(q, k, scale);
  });
}

// tf.customGrad takes tensors only, so heads and scale are bound per value (a model uses one pair).
function attentionWithGrad(heads: number, scale: number): AttentionFn {
  const attrs = { heads, scale };
  return tf.customGrad(((qkv: tf.Tensor3D, save: tf.GradSaveFunc) => {
    const b = qkv.shape[0];
    const [out, probs] = runFused(FusedKernel.attention, { qkv }, attrs, () => {
      const [q, k, v] = splitHeads(qkv, heads);
      const p = probabilities(q, k, scale);
      return [mergeHeads(tf.matMul(p, v), b, heads), p];
    });
    save([qkv, probs]);
    return {
      value: out,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [input, p] = saved;
        return runFused(FusedKernel.attentionGrad, { dy, qkv: input, probs: p }, attrs, () => {
          const [b2, n, d3] = input.shape;
          const hd = d3 / 3 / heads;
          const [q, k, v] = splitHeads(input, heads);
          const dMixed = tf.reshape(tf.transpose(tf.reshape(dy, [b2, n, heads, hd]), [0, 2, 1, 3]), [b2 * heads, n, hd]);
          const dp = tf.matMul(dMixed, v, false, true);
          const dLogits = tf.mul(tf.mul(p, tf.sub(dp, tf.sum(tf.mul(dp, p), -1, true))), scale);
          const dq = tf.matMul(dLogits, k);
          const dk = tf.matMul(dLogits, q, true, false);
          const dv = tf.matMul(p, dMixed, true, false);
          // [B, 3·heads, N, hd] → [B, N, 3·heads·hd]: the qkv layout, with a 4-D transpose.
          const byHead = tf.concat([dq, dk, dv].map((g) => tf.reshape(g, [b2, heads, n, hd])), 1);
          return tf.reshape(tf.transpose(byHead, [0, 2, 1, 3]), [b2, n, d3]);
        });
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as AttentionFn;
}
