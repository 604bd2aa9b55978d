import { definePlugin, Slots, z } from '@bt-platform/sdk';
import { EarlyStopping } from './EarlyStopping.js';

export default definePlugin({
  name: 'early-stopping',
  description: 'Stops training when a monitored metric stops improving.',
  register(registrar) {
    registrar.component(Slots.callback, {
      name: 'early-stopping',
      description: 'Stops after `patience` checks without an improvement of more than `minDelta` in `monitor`.',
      options: z.strictObject({
        monitor: z.string().min(1).default('val/loss'),
        mode: z.enum(['min', 'max']).default('min'),
        patience: z.number().int().positive().default(3),
        minDelta: z.number().nonnegative().default(0),
        checkOn: z.enum(['validation', 'trainEpoch']).default('validation'),
        checkFinite: z.boolean().default(true),
        stoppingThreshold: z.number().optional(),
        divergenceThreshold: z.number().optional(),
      }),
      declares: (options) => ({ reads: [{ option: 'monitor', metric: options.monitor, at: options.checkOn === 'validation' ? 'validation' : 'trainEpoch' }] }),
      create: (options, ctx) => new EarlyStopping(options, ctx),
    });
  },
});
