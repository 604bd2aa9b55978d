import * as tf from '@tensorflow/tfjs';

/**
 * Segmentation losses on logits [B, H, W, C] and integer masks [B, H, W]. Pixels labelled
 * `ignoreIndex` (or outside [0, C)) count nowhere: not in sums, not in means, not as a class.
 * Dice and Jaccard follow segmentation_models_pytorch's multiclass losses (soft scores summed over
 * the batch, classes absent from the batch's labels contribute 0 but stay in the mean); focal is
 * the softmax focal loss −(1 − p_t)^γ log p_t averaged over labelled pixels.
 */
export type SegmentationLossName = 'cross-entropy' | 'dice' | 'focal' | 'jaccard';

export interface LossParams {
  ignoreIndex: number;
  /** Focal loss exponent. */
  gamma?: number;
  /** Dice/Jaccard denominator floor. */
  eps?: number;
}

interface Targets {
  /** [B, H, W] 1 for labelled pixels. */
  valid: tf.Tensor3D;
  /** [B, H, W, C] one-hot labels, all zeros on void pixels. */
  oneHot: tf.Tensor4D;
  count: tf.Scalar;
}

function targets(logits: tf.Tensor4D, mask: tf.Tensor, ignoreIndex: number): Targets {
  const classes = logits.shape[3];
  const labels = mask.dtype === 'int32' ? mask : tf.cast(mask, 'int32');
  const validBool = tf.logicalAnd(tf.logicalAnd(tf.notEqual(labels, ignoreIndex), tf.greaterEqual(labels, 0)), tf.less(labels, classes));
  const valid = tf.cast(validBool, 'float32') as tf.Tensor3D;
  const safe = tf.where(validBool, labels, tf.zerosLike(labels));
  const oneHot = tf.mul(tf.oneHot(safe as tf.Tensor, classes), tf.expandDims(valid, -1)) as tf.Tensor4D;
  return { valid, oneHot, count: tf.maximum(tf.sum(valid), 1) as tf.Scalar };
}

export function crossEntropyLoss(logits: tf.Tensor4D, mask: tf.Tensor, params: LossParams): tf.Scalar {
  return tf.tidy(() => {
    const { oneHot, count } = targets(logits, mask, params.ignoreIndex);
    return tf.div(tf.neg(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits)))), count) as tf.Scalar;
  });
}

export function focalLoss(logits: tf.Tensor4D, mask: tf.Tensor, params: LossParams): tf.Scalar {
  const gamma = params.gamma ?? 2;
  return tf.tidy(() => {
    const { valid, oneHot, count } = targets(logits, mask, params.ignoreIndex);
    const logpt = tf.sum(tf.mul(oneHot, tf.logSoftmax(logits)), -1);
    // The floor keeps the gradient of (1 − p_t)^γ finite at p_t = 1 (void pixels) for γ < 1.
    const modulation = tf.pow(tf.maximum(tf.sub(1, tf.exp(logpt)), 1e-12), gamma);
    return tf.div(tf.neg(tf.sum(tf.mul(tf.mul(modulation, logpt), valid))), count) as tf.Scalar;
  });
}

function softOverlap(logits: tf.Tensor4D, mask: tf.Tensor, params: LossParams) {
  const { valid, oneHot } = targets(logits, mask, params.ignoreIndex);
  const probs = tf.mul(tf.softmax(logits), tf.expandDims(valid, -1));
  const intersection = tf.sum(tf.mul(probs, oneHot), [0, 1, 2]);
  const labelled = tf.sum(oneHot, [0, 1, 2]);
  const cardinality = tf.add(tf.sum(probs, [0, 1, 2]), labelled);
  const present = tf.cast(tf.greater(labelled, 0), 'float32');
  return { intersection, cardinality, present };
}

export function diceLoss(logits: tf.Tensor4D, mask: tf.Tensor, params: LossParams): tf.Scalar {
  const eps = params.eps ?? 1e-7;
  return tf.tidy(() => {
    const { intersection, cardinality, present } = softOverlap(logits, mask, params);
    const score = tf.div(tf.mul(intersection, 2), tf.maximum(cardinality, eps));
    return tf.mean(tf.mul(tf.sub(1, score), present)) as tf.Scalar;
  });
}

export function jaccardLoss(logits: tf.Tensor4D, mask: tf.Tensor, params: LossParams): tf.Scalar {
  const eps = params.eps ?? 1e-7;
  return tf.tidy(() => {
    const { intersection, cardinality, present } = softOverlap(logits, mask, params);
    const score = tf.div(intersection, tf.maximum(tf.sub(cardinality, intersection), eps));
    return tf.mean(tf.mul(tf.sub(1, score), present)) as tf.Scalar;
  });
}

export const segmentationLosses: Record<SegmentationLossName, (logits: tf.Tensor4D, mask: tf.Tensor, params: LossParams) => tf.Scalar> = {
  'cross-entropy': crossEntropyLoss,
  dice: diceLoss,
  focal: focalLoss,
  jaccard: jaccardLoss,
};
