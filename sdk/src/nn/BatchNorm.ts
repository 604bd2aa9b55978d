import * as tf from '@tensorflow/tfjs';
import { BtError } from '../errors.js';
import { isReplayingForward, Module } from '../module.js';
import { FusedKernel, runFused } from './fusedKernel.js';

type Statistics = (mean: tf.Tensor, variance: tf.Tensor, count: number) => void;
type TrainingForward = (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => tf.Tensor;

/**
 * Training-mode batch normalisation over the last axis with a custom gradient that keeps only x and
 * the per-channel statistics; one kernel each way on backends with `BtBatchNorm`/`BtBatchNormGrad`.
 * `onStatistics` receives the batch mean, biased variance and values per channel (for the running averages).
 */
export function batchNormTraining(eps: number, onStatistics: Statistics): TrainingForward {
  return tf.customGrad(((x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, save: tf.GradSaveFunc) => {
    const axes = x.shape.slice(0, -1).map((_, i) => i);
    const [y, mean, variance] = runFused(FusedKernel.batchNorm, { x, gamma, beta }, { eps }, () => {
      const moments = tf.moments(x, axes);
      const normed = tf.mul(tf.sub(x, moments.mean), tf.rsqrt(tf.add(moments.variance, eps)));
      return [tf.add(tf.mul(normed, gamma), beta), moments.mean, moments.variance];
    });
    onStatistics(mean, variance, x.size / x.shape[x.rank - 1]);
    save([x, gamma, mean, variance]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [input, g, mu, v] = saved;
        return runFused(FusedKernel.batchNormGrad, { dy, x: input, gamma: g, mean: mu, variance: v }, { eps }, () => {
          const n = input.size / input.shape[input.rank - 1];
          const rstd = tf.rsqrt(tf.add(v, eps));
          const xhat = tf.mul(tf.sub(input, mu), rstd);
          const dbeta = tf.sum(dy, axes);
          const dgamma = tf.sum(tf.mul(dy, xhat), axes);
          const dx = tf.mul(tf.mul(g, rstd), tf.sub(tf.sub(dy, tf.div(dbeta, n)), tf.mul(xhat, tf.div(dgamma, n))));
          return [dx, dgamma, dbeta];
        });
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as TrainingForward;
}

/**
 * Batch normalisation over the last (channel) axis of [B, C] or NHWC inputs: batch statistics
 * (biased variance) while training, moving the running ones as PyTorch does (momentum 0.1,
 * unbiased variance, num_batches_tracked); running statistics in eval. Without `affine` it has no
 * weight and bias (the Barlow Twins loss's own normalisation).
 */
export class BatchNorm extends Module {
  readonly weight?: tf.Variable;
  readonly bias?: tf.Variable;
  readonly running_mean: tf.Variable;
  readonly running_var: tf.Variable;
  readonly num_batches_tracked: tf.Variable;
  private readonly trainingForward: TrainingForward;

  constructor(
    readonly features: number,
    readonly eps = 1e-5,
    readonly momentum = 0.1,
    readonly affine = true,
  ) {
    super();
    if (affine) {
      this.weight = this.registerParameter('weight', tf.ones([features]));
      this.bias = this.registerParameter('bias', tf.zeros([features]));
    }
    this.running_mean = this.registerBuffer('running_mean', tf.zeros([features]));
    this.running_var = this.registerBuffer('running_var', tf.ones([features]));
    this.num_batches_tracked = this.registerBuffer('num_batches_tracked', tf.scalar(0, 'int32'));
    this.trainingForward = batchNormTraining(eps, (mean, variance, count) => this.track(mean, variance, count));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      if (this.training) {
        if (x.size / this.features < 2)
          throw new BtError('RUNTIME', `${this.constructor.name} "${this.path}" needs more than one value per channel in training, got input [${x.shape}].`, {
            hint: 'Train with a batch size of at least 2 (PyTorch refuses this case too).',
          });
        return this.trainingForward(x, this.weight ?? tf.ones([this.features]), this.bias ?? tf.zeros([this.features]));
      }
      let scale = tf.rsqrt(tf.add(this.running_var, this.eps));
      if (this.weight) scale = tf.mul(scale, this.weight);
      const out = tf.mul(tf.sub(x, this.running_mean), scale);
      return this.bias ? tf.add(out, this.bias) : out;
    });
  }

  /** Batch statistics while training; the running ones in eval treat each sample on its own. */
  override mixesSamples(): boolean {
    return this.training;
  }

  /** Running statistics are bookkeeping off the loss's path, so no gradient flows through them. */
  private track(mean: tf.Tensor, variance: tf.Tensor, n: number): void {
    // A recomputed forward sees the same batch again: its statistics were counted the first time.
    if (isReplayingForward()) return;
    const m = this.momentum;
    tf.tidy(() => {
      const attrs = { keep: 1 - m, momentum: m, varianceScale: (m * n) / (n - 1) };
      const inputs = { runningMean: this.running_mean, runningVar: this.running_var, mean, variance, count: this.num_batches_tracked };
      const [runningMean, runningVar, count] = runFused(FusedKernel.runningStats, inputs, attrs, () => [
        tf.add(tf.mul(this.running_mean, attrs.keep), tf.mul(mean, attrs.momentum)),
        tf.add(tf.mul(this.running_var, attrs.keep), tf.mul(variance, attrs.varianceScale)),
        tf.add(this.num_batches_tracked, tf.scalar(1, 'int32')),
      ]);
      this.running_mean.assign(runningMean);
      this.running_var.assign(runningVar);
      this.num_batches_tracked.assign(count);
    });
  }
}

/** nn.BatchNorm1d on [B, C]. */
export class BatchNorm1d extends BatchNorm {
  override forward(x: tf.Tensor2D): tf.Tensor2D {
    return super.forward(x) as tf.Tensor2D;
  }
}

/** nn.BatchNorm2d on NHWC tensors. */
export class BatchNorm2d extends BatchNorm {
  override forward(x: tf.Tensor4D): tf.Tensor4D {
    return super.forward(x) as tf.Tensor4D;
  }
}
