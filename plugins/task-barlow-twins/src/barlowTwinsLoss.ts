import * as tf from '@tensorflow/tfjs';
import { BtError } from '@bt-platform/sdk';

export type Standardize = 'batchnorm' | 'std';

export interface BarlowTwinsTerms {
  loss: tf.Scalar;
  /** Σ(1 − C_ii)². */
  invariance: tf.Scalar;
  /** Σ_{i≠j} C_ij². */
  redundancy: tf.Scalar;
  /** The [D, D] cross-correlation matrix. */
  crossCorrelation: tf.Tensor2D;
  diagMean: tf.Scalar;
  offDiagAbsMean: tf.Scalar;
}

/**
 * Standardises each feature over the batch: `batchnorm` as the paper's BatchNorm1d(affine=False)
 * (biased variance + eps), `std` divides by the unbiased standard deviation (torch's z.std(0)).
 */
export function standardizeBatch(z: tf.Tensor2D, mode: Standardize, eps: number): tf.Tensor2D {
  return tf.tidy(() => {
    const n = z.shape[0];
    const centered = tf.sub(z, tf.mean(z, 0));
    const sumSquares = tf.sum(tf.square(centered), 0);
    const variance = mode === 'batchnorm' ? tf.add(tf.div(sumSquares, n), eps) : tf.div(sumSquares, n - 1);
    return tf.div(centered, tf.sqrt(variance)) as tf.Tensor2D;
  });
}

/** Standardisation over the batch needs two samples at least. */
export function assertBatch(n: number): void {
  if (n < 2) {
    throw new BtError('RUNTIME', `The Barlow Twins loss needs at least 2 samples per training batch to standardise the embeddings; got ${n}.`, {
      hint: 'Raise the datamodule\'s batchSize (and drop the last incomplete training batch).',
    });
  }
}

/** The Barlow Twins loss Σ(1 − C_ii)² + λ Σ_{i≠j} C_ij² on C = z̃1ᵀ z̃2 / B, standardising with the batch's statistics. */
export function barlowTwinsLoss(z1: tf.Tensor2D, z2: tf.Tensor2D, lambda: number, mode: Standardize = 'batchnorm', eps = 1e-5): BarlowTwinsTerms {
  assertBatch(z1.shape[0]);
  const terms = tf.tidy(() => crossCorrelationLoss(standardizeBatch(z1, mode, eps), standardizeBatch(z2, mode, eps), lambda) as unknown as tf.TensorContainerObject);
  return terms as unknown as BarlowTwinsTerms;
}

/**
 * The loss terms on already standardised embeddings z̃1, z̃2 [B, D]. With a projector wider than the
 * batch (the paper's 8192-d one), the loss never forms the D × D matrix: C's diagonal is Σ_b z̃1·z̃2 / B
 * and ‖C‖²_F = Σ (z̃1 z̃1ᵀ ⊙ z̃2 z̃2ᵀ) / B², both from B × B products, so the gradient needs no D × D
 * tensor either. C itself is still computed once for the logged mean |off-diagonal| and for callbacks
 * (`outputs.crossCorrelation`), off the loss's gradient path.
 */
export function crossCorrelationLoss(s1: tf.Tensor2D, s2: tf.Tensor2D, lambda: number): BarlowTwinsTerms {
  const [n, d] = s1.shape;
  return tf.tidy(() => {
    const { c, diag, redundancy } = d > n ? fromGramMatrices(s1, s2) : fromCrossCorrelation(s1, s2);
    const invariance = tf.sum(tf.square(tf.sub(1, diag))) as tf.Scalar;
    const loss = tf.add(invariance, tf.mul(redundancy, lambda)) as tf.Scalar;
    const offDiagAbsSum = tf.sub(tf.sum(tf.abs(c)), tf.sum(tf.abs(diag)));
    return {
      loss,
      invariance,
      redundancy,
      crossCorrelation: c,
      diagMean: tf.mean(diag) as tf.Scalar,
      offDiagAbsMean: tf.div(offDiagAbsSum, Math.max(1, d * (d - 1))) as tf.Scalar,
    } as unknown as tf.TensorContainerObject;
  }) as unknown as BarlowTwinsTerms;
}

interface CorrelationParts {
  c: tf.Tensor2D;
  diag: tf.Tensor1D;
  redundancy: tf.Scalar;
}

/** D ≤ B: everything from C (the D × D matrices are the small ones). */
function fromCrossCorrelation(s1: tf.Tensor2D, s2: tf.Tensor2D): CorrelationParts {
  const [n, d] = s1.shape;
  const c = tf.div(tf.matMul(s1, s2, true, false), n) as tf.Tensor2D;
  const eye = tf.eye(d);
  const diag = tf.sum(tf.mul(c, eye), 1) as tf.Tensor1D;
  const redundancy = tf.sum(tf.square(tf.mul(c, tf.sub(1, eye)))) as tf.Scalar;
  return { c, diag, redundancy };
}

/** D > B: the loss from B × B Gram matrices; C (one D × D tensor) only for the metrics. */
function fromGramMatrices(s1: tf.Tensor2D, s2: tf.Tensor2D): CorrelationParts {
  const n = s1.shape[0];
  const diag = tf.div(tf.sum(tf.mul(s1, s2), 0), n) as tf.Tensor1D;
  const gram1 = tf.matMul(s1, s1, false, true);
  const gram2 = tf.matMul(s2, s2, false, true);
  const squaredNorm = tf.div(tf.sum(tf.mul(gram1, gram2)), n * n);
  const redundancy = tf.sub(squaredNorm, tf.sum(tf.square(diag))) as tf.Scalar;
  // Scaling the [B, D] operand rather than the product keeps a single D × D tensor alive.
  const c = tf.matMul(tf.div(s1, n), s2, true, false) as tf.Tensor2D;
  return { c, diag, redundancy };
}
