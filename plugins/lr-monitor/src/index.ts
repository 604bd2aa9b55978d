import { definePlugin, Slots, z } from '@bt-platform/sdk';
import { LrMonitor } from './LrMonitor.js';

export default definePlugin({
  name: 'lr-monitor',
  description: 'Logs the learning rate of each optimizer step (or epoch) as the `lr` metric.',
  register(registrar) {
    registrar.component(Slots.callback, {
      name: 'lr-monitor',
      description: 'Logs `lr` (and `lr/<group>` per parameter group) every N optimizer steps or once per epoch.',
      options: z.strictObject({
        loggingInterval: z.enum(['step', 'epoch']).default('step'),
        /** With `step`: log every N-th optimizer step. */
        logEveryNSteps: z.number().int().positive().default(1),
      }),
      create: (options, ctx) => new LrMonitor(options, ctx),
    });
  },
});
