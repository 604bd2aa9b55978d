import * as tf from '@tensorflow/tfjs';
import { z, type NamedTensors } from '@bt-platform/sdk';
import { FusedKernel, runFused } from '@bt-platform/sdk/nn';
import { paramGroupOptions } from './ParamGroups.js';
import { ParameterOptimizer } from './ParameterOptimizer.js';

export const adamWOptions = z.strictObject({
  lr: z.number().positive().default(1e-3).describe('Learning rate.'),
  betas: z.tuple([z.number().min(0).lt(1), z.number().min(0).lt(1)]).default([0.9, 0.999]).describe('Decay rates of the first and second moment estimates.'),
  eps: z.number().positive().default(1e-8).describe('Added to the denominator for numerical stability.'),
  ...paramGroupOptions,
  weightDecay: paramGroupOptions.weightDecay.default(1e-2).describe('Decoupled weight decay.'),
});

export type AdamWOptions = z.output<typeof adamWOptions>;

/**
 * Adam with decoupled weight decay (Loshchilov & Hutter), step for step as torch.optim.AdamW:
 * p ← p·(1 − lr·wd), then the bias-corrected Adam update; one kernel per parameter on backends
 * with `BtAdam`.
 */
export class AdamW extends ParameterOptimizer {
  constructor(private readonly options: AdamWOptions, name = 'adamw') {
    super(options, name);
  }

  protected update(variables: Record<string, tf.Variable>, grads: NamedTensors, lr: number): void {
    const [beta1, beta2] = this.options.betas;
    const eps = this.options.eps;
    for (const [name, variable] of Object.entries(variables)) {
      const grad = grads[name];
      if (!grad) continue;
      const { weightDecay, lrScale } = this.groups.settings(name, variable);
      const groupLr = lr * lrScale;
      const m = this.memory.slot(name, 'exp_avg', variable);
      const v = this.memory.slot(name, 'exp_avg_sq', variable);
      const t = this.memory.nextStep(name);
      const stepSize = groupLr / (1 - beta1 ** t);
      const sqrtCorrection2 = Math.sqrt(1 - beta2 ** t);
      tf.tidy(() => {
        const attrs = { beta1, beta2, eps, decay: 1 - groupLr * weightDecay, stepSize, sqrtCorrection2 };
        const [newParam, newM, newV] = runFused(FusedKernel.adam, { param: variable, grad, m, v }, attrs, () => {
          const decayed = weightDecay > 0 ? tf.mul(variable, attrs.decay) : variable;
          const m1 = tf.add(tf.mul(m, beta1), tf.mul(grad, 1 - beta1));
          const v1 = tf.add(tf.mul(v, beta2), tf.mul(tf.square(grad), 1 - beta2));
          const denom = tf.add(tf.div(tf.sqrt(v1), sqrtCorrection2), eps);
          return [tf.sub(decayed, tf.mul(tf.div(m1, denom), stepSize)), m1, v1];
        });
        m.assign(newM);
        v.assign(newV);
        variable.assign(newParam);
      });
    }
  }

}
