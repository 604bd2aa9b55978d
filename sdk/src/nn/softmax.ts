import * as tf from '@tensorflow/tfjs';
import { FusedKernel, runFused } from './fusedKernel.js';

/**
 * Softmax over the last axis whose gradient, y·(dy − Σ dy·y), keeps only the output and runs as one
 * kernel on backends that have `BtSoftmaxGrad` (tfjs's own gradient is four kernels).
 */
export const softmax = tf.customGrad(((logits: tf.Tensor, save: tf.GradSaveFunc) => {
  const y = tf.softmax(logits);
  save([y]);
  return {
    value: y,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [probs] = saved;
      return runFused(FusedKernel.softmaxGrad, { dy, y: probs }, {}, () => {
        const dyY = tf.mul(dy, probs);
        return tf.sub(dyY, tf.mul(tf.sum(dyY, -1, true), probs));
      });
    },
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as (logits: tf.Tensor) => tf.Tensor;
