import { definePlugin, Slots, type RunContext } from '@bt-platform/sdk';
import type { ParameterOptimizer } from './ParameterOptimizer.js';
import { AdamW, adamWOptions } from './AdamW.js';
import { ConstantSchedule, constantScheduleOptions } from './ConstantSchedule.js';
import { Lars, larsOptions } from './Lars.js';
import { Sgd, sgdOptions } from './Sgd.js';
import { StepSchedule, stepScheduleOptions } from './StepSchedule.js';
import { WarmupCosine, warmupCosineOptions } from './WarmupCosine.js';

export { AdamW, adamWOptions } from './AdamW.js';
export { Sgd, sgdOptions } from './Sgd.js';
export { Lars, larsOptions } from './Lars.js';
export { ParamGroups, matchesParam } from './ParamGroups.js';
export { WarmupCosine } from './WarmupCosine.js';
export { StepSchedule } from './StepSchedule.js';
export { ConstantSchedule } from './ConstantSchedule.js';

/** Reports through the run's log what the optimizer finds wrong with its options once it sees the parameters. */
function logged<T extends ParameterOptimizer>(optimizer: T, ctx: RunContext): T {
  optimizer.warn = (message) => ctx.log.warn(message);
  return optimizer;
}

const adamOptions = adamWOptions.extend({ weightDecay: adamWOptions.shape.weightDecay.removeDefault().default(0) });

export default definePlugin({
  name: 'optim',
  description: 'Optimizers (AdamW, Adam, SGD, LARS) and learning-rate schedules (constant, warmup-cosine, step).',
  register(registrar) {
    registrar.component(Slots.optimizer, {
      name: 'adamw',
      description: 'Adam with decoupled weight decay (torch.optim.AdamW).',
      options: adamWOptions,
      create: (options, ctx) => logged(new AdamW(options, 'adamw'), ctx),
    });
    registrar.component(Slots.optimizer, {
      name: 'adam',
      description: 'AdamW with weight decay 0 by default.',
      options: adamOptions,
      create: (options, ctx) => logged(new AdamW(options, 'adam'), ctx),
    });
    registrar.component(Slots.optimizer, {
      name: 'sgd',
      description: 'SGD with optional (Nesterov) momentum and L2 weight decay (torch.optim.SGD).',
      options: sgdOptions,
      create: (options, ctx) => logged(new Sgd(options), ctx),
    });
    registrar.component(Slots.optimizer, {
      name: 'lars',
      description: 'LARS as in the Barlow Twins paper, biases and norms excluded from decay and adaptation.',
      options: larsOptions,
      create: (options, ctx) => logged(new Lars(options), ctx),
    });
    registrar.component(Slots.lrSchedule, {
      name: 'constant',
      description: 'The base learning rate throughout (optional linear warm-up in steps).',
      options: constantScheduleOptions,
      create: (options) => new ConstantSchedule(options),
    });
    registrar.component(Slots.lrSchedule, {
      name: 'warmup-cosine',
      description: 'Linear warm-up (epochs or steps) then cosine decay to `minLr`.',
      options: warmupCosineOptions,
      create: (options) => new WarmupCosine(options),
    });
    registrar.component(Slots.lrSchedule, {
      name: 'step',
      description: 'Multiply the LR by `gamma` every `stepSize` epochs or at `milestones`.',
      options: stepScheduleOptions,
      create: (options) => new StepSchedule(options),
    });
  },
});
