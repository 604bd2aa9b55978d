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
    // All parameters in one kernel call where the backend has one, unless the state lives on the
    // host (a capped heap), where it comes onto the heap one parameter at a time.
    const together = !this.memory.onHost && tf.getKernel(FusedKernel.adamMulti, tf.getBackend()) !== undefined;
    const pending: Array<{ variable: tf.Variable; grad: tf.Tensor; m: tf.Variable; v: tf.Variable; attrs: AdamStepAttrs }> = [];
    for (const [name, variable] of Object.entries(variables)) {
      const grad = grads[name];
      if (!grad) continue;
      const { weightDecay, lrScale } = this.groups.settings(name, variable);
      const groupLr = lr * lrScale;
      const m = this.memory.slot(name, 'exp_avg', variable);
      const v = this.memory.slot(name, 'exp_avg_sq', variable);
      const t = this.memory.nextStep(name);
      const attrs = { beta1, beta2, eps, decay: 1 - groupLr * weightDecay, stepSize: groupLr / (1 - beta1 ** t), sqrtCorrection2: Math.sqrt(1 - beta2 ** t), weightDecay };
      if (together) pending.push({ variable, grad, m, v, attrs });
      else tf.tidy(() => assign(variable, m, v, adamStep(variable, grad, m, v, attrs)));
    }
    if (pending.length === 0) return;
    tf.tidy(() => {
      const inputs: tf.NamedTensorMap = {};
      pending.forEach(({ variable, grad, m, v }, i) => Object.assign(inputs, { [`param${i}`]: variable, [`grad${i}`]: grad, [`m${i}`]: m, [`v${i}`]: v }));
      const attrs = { beta1, beta2, eps, decay: pending.map((p) => p.attrs.decay), stepSize: pending.map((p) => p.attrs.stepSize), sqrtCorrection2: pending.map((p) => p.attrs.sqrtCorrection2) };
      const out = tf.engine().runKernel(FusedKernel.adamMulti, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
      pending.forEach(({ variable, m, v }, i) => assign(variable, m, v, out.slice(3 * i, 3 * i + 3)));
    });
  }
}

interface AdamStepAttrs {
  beta1: number;
  beta2: number;
  eps: number;
  decay: number;
  stepSize: number;
  sqrtCorrection2: number;
  weightDecay: number;
}

/** One parameter's [param', m', v']: the backend's `BtAdam`, else its composite form. */
function adamStep(variable: tf.Variable, grad: tf.Tensor, m: tf.Variable, v: tf.Variable, attrs: AdamStepAttrs): tf.Tensor[] {
  const { weightDecay, ...kernelAttrs } = attrs;
  return runFused(FusedKernel.adam, { param: variable, grad, m, v }, kernelAttrs, () => {
    const { beta1, beta2, eps, decay, stepSize, sqrtCorrection2 } = attrs;
    const decayed = weightDecay > 0 ? tf.mul(variable, decay) : variable;
    const m1 = tf.add(tf.mul(m, beta1), tf.mul(grad, 1 - beta1));
    const v1 = tf.add(tf.mul(v, beta2), tf.mul(tf.square(grad), 1 - beta2));
    const denom = tf.add(tf.div(tf.sqrt(v1), sqrtCorrection2), eps);
    return [tf.sub(decayed, tf.mul(tf.div(m1, denom), stepSize)), m1, v1];
  });
}

function assign(variable: tf.Variable, m: tf.Variable, v: tf.Variable, [param1, m1, v1]: tf.Tensor[]): void {
  m.assign(m1);
  v.assign(v1);
  variable.assign(param1);
}
