import * as tf from '@tensorflow/tfjs';
import { z, type NamedTensors } from '@bt-platform/sdk';
import { paramGroupOptions } from './ParamGroups.js';
import { ParameterOptimizer } from './ParameterOptimizer.js';

export const larsOptions = z.strictObject({
  lr: z.number().positive().default(0.2),
  momentum: z.number().min(0).lt(1).default(0.9),
  /** Trust coefficient η of the layer-wise trust ratio η·‖p‖/‖g‖. */
  eta: z.number().positive().default(1e-3),
  ...paramGroupOptions,
  weightDecay: paramGroupOptions.weightDecay.default(1.5e-6),
});

export type LarsOptions = z.output<typeof larsOptions>;

/**
 * LARS as in the Barlow Twins paper's code: d = g + wd·p, scaled by η‖p‖/‖d‖ (1 when either norm
 * is 0), momentum μ ← m·μ + d, p ← p − lr·μ. Excluded parameters (biases and norms by default)
 * get neither weight decay nor the trust ratio.
 */
export class Lars extends ParameterOptimizer {
  constructor(private readonly options: LarsOptions) {
    super(options, 'lars');
  }

  step(variables: Record<string, tf.Variable>, grads: NamedTensors, lr: number): void {
    const { momentum, eta } = this.options;
    for (const [name, variable] of Object.entries(variables)) {
      const grad = grads[name];
      if (!grad) continue;
      const { weightDecay, lrScale, excluded } = this.groups.settings(name, variable);
      const mu = this.memory.slot(name, 'mu', variable);
      this.memory.nextStep(name);
      tf.tidy(() => {
        let d: tf.Tensor = weightDecay > 0 ? tf.add(grad, tf.mul(variable, weightDecay)) : grad;
        if (!excluded) {
          const paramNorm = tf.norm(variable);
          const updateNorm = tf.norm(d);
          const one = tf.onesLike(paramNorm);
          const ratio = tf.where(
            tf.greater(paramNorm, 0),
            tf.where(tf.greater(updateNorm, 0), tf.div(tf.mul(paramNorm, eta), updateNorm), one),
            one,
          );
          d = tf.mul(d, ratio);
        }
        const newMu = tf.add(tf.mul(mu, momentum), d);
        mu.assign(newMu);
        variable.assign(tf.sub(variable, tf.mul(newMu, lr * lrScale)));
      });
    }
  }

}
