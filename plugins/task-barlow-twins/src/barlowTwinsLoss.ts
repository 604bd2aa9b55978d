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

/** The loss terms on already standardised embeddings z̃1, z̃2 [B, D]. */
export function crossCorrelationLoss(s1: tf.Tensor2D, s2: tf.Tensor2D, lambda: number): BarlowTwinsTerms {
  const [n, d] = s1.shape;
  const terms = tf.tidy(() => {
    const c = tf.div(tf.matMul(s1, s2, true, false), n) as tf.Tensor2D;
    const eye = tf.eye(d);
    const offMask = tf.sub(1, eye);
    const diag = tf.sum(tf.mul(c, eye), 1);
    const off = tf.mul(c, offMask);
    const invariance = tf.sum(tf.square(tf.sub(1, diag))) as tf.Scalar;
    const redundancy = tf.sum(tf.square(off)) as tf.Scalar;
    const loss = tf.add(invariance, tf.mul(redundancy, lambda)) as tf.Scalar;
    return {
      loss,
      invariance,
      redundancy,
      crossCorrelation: c,
      diagMean: tf.mean(diag) as tf.Scalar,
      offDiagAbsMean: tf.div(tf.sum(tf.abs(off)), Math.max(1, d * (d - 1))) as tf.Scalar,
    };
  });
  return terms;
}
