import { definePlugin, Slots, z } from '@bt-platform/sdk';
import { HistogramsCallback } from './HistogramsCallback.js';

export { HistogramsCallback, type HistogramsOptions } from './HistogramsCallback.js';
export { summarise, type Summary } from './summarise.js';

export default definePlugin({
  name: 'histograms',
  description: 'Histograms of parameter values and gradients and their norms (like wandb.watch), for every logger.',
  register(registrar) {
    registrar.component(Slots.callback, {
      name: 'histograms',
      description: 'Every N optimizer steps: per-parameter histograms of values and gradients, and `grad_norm/<name>`, `grad_norm/total` metrics.',
      options: z.strictObject({
        everyNSteps: z.number().int().positive().default(50),
        bins: z.number().int().min(1).max(512).default(64),
        which: z.enum(['parameters', 'gradients', 'both']).default('both'),
      }),
      create: (options, ctx) => new HistogramsCallback(options, ctx),
    });
  },
});
