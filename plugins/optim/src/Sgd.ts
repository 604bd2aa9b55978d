import * as tf from '@tensorflow/tfjs';
import { ConfigError, z, type NamedTensors } from '@bt-platform/sdk';
import { paramGroupOptions } from './ParamGroups.js';
import { ParameterOptimizer } from './ParameterOptimizer.js';

export const sgdOptions = z.strictObject({
  lr: z.number().positive().default(0.01).describe('Learning rate.'),
  momentum: z.number().min(0).lt(1).default(0).describe('Momentum factor.'),
  dampening: z.number().min(0).max(1).default(0).describe('Dampening of the momentum.'),
  nesterov: z.boolean().default(false).describe('Nesterov momentum.'),
  ...paramGroupOptions,
  weightDecay: paramGroupOptions.weightDecay.default(0),
});

export type SgdOptions = z.output<typeof sgdOptions>;

/** Stochastic gradient descent as torch.optim.SGD: L2 weight decay added to the gradient, optional (Nesterov) momentum. */
export class Sgd extends ParameterOptimizer {
  constructor(private readonly options: SgdOptions) {
    super(options, 'sgd');
    if (options.nesterov && (options.momentum <= 0 || options.dampening !== 0)) {
      throw new ConfigError('CONFIG_INVALID', `optimizer "sgd": nesterov needs momentum > 0 and dampening 0 (got momentum ${options.momentum}, dampening ${options.dampening}).`, {
        hint: 'Set `momentum: 0.9` (and `dampening: 0`), or `nesterov: false`.',
      });
    }
  }

  protected update(variables: Record<string, tf.Variable>, grads: NamedTensors, lr: number): void {
    const { momentum, dampening, nesterov } = this.options;
    for (const [name, variable] of Object.entries(variables)) {
      const grad = grads[name];
      if (!grad) continue;
      const { weightDecay, lrScale } = this.groups.settings(name, variable);
      const t = this.memory.nextStep(name);
      const buf = momentum > 0 ? this.memory.slot(name, 'momentum_buffer', variable) : null;
      tf.tidy(() => {
        let d: tf.Tensor = weightDecay > 0 ? tf.add(grad, tf.mul(variable, weightDecay)) : grad;
        if (buf) {
          // PyTorch starts the buffer at the first gradient, undamped.
          const newBuf = t === 1 ? d : tf.add(tf.mul(buf, momentum), tf.mul(d, 1 - dampening));
          buf.assign(newBuf);
          d = nesterov ? tf.add(d, tf.mul(newBuf, momentum)) : newBuf;
        }
        variable.assign(tf.sub(variable, tf.mul(d, lr * lrScale)));
      });
    }
  }

}
