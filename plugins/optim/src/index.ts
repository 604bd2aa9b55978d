import { definePlugin, Slots } from '@bt-platform/sdk';
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

const adamOptions = adamWOptions.extend({ weightDecay: adamWOptions.shape.weightDecay.removeDefault().default(0) });

export default definePlugin({
  name: 'optim',
  description: 'Optimizers (AdamW, Adam, SGD, LARS) and learning-rate schedules (constant, warmup-cosine, step).',
  register(registrar) {
    registrar.component(Slots.optimizer, {
      name: 'adamw',
      description: 'Adam with decoupled weight decay (torch.optim.AdamW).',
      options: adamWOptions,
      create: (options) => new AdamW(options, 'adamw'),
    });
    registrar.component(Slots.optimizer, {
      name: 'adam',
      description: 'AdamW with weight decay 0 by default.',
      options: adamOptions,
      create: (options) => new AdamW(options, 'adam'),
    });
    registrar.component(Slots.optimizer, {
      name: 'sgd',
      description: 'SGD with optional (Nesterov) momentum and L2 weight decay (torch.optim.SGD).',
      options: sgdOptions,
      create: (options) => new Sgd(options),
    });
    registrar.component(Slots.optimizer, {
      name: 'lars',
      description: 'LARS as in the Barlow Twins paper, biases and norms excluded from decay and adaptation.',
      options: larsOptions,
      create: (options) => new Lars(options),
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
