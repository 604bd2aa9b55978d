import { definePlugin, Slots, z } from '@bt-platform/sdk';
import { CrossCorrelationCallback } from './CrossCorrelationCallback.js';

export default definePlugin({
  name: 'cross-correlation',
  description: 'Heatmaps of the Barlow Twins cross-correlation matrix, averaged over each epoch.',
  register(registrar) {
    registrar.component(Slots.callback, {
      name: 'cross-correlation',
      description: 'Draws the epoch mean of the cross-correlation matrix (train and val) with a colour bar, titled with its mean diagonal and mean |off-diagonal|.',
      options: z.strictObject({
        everyNEpochs: z.number().int().positive().default(1),
        stages: z.array(z.enum(['train', 'val'])).min(1).default(['train', 'val']),
        /** `blue-white-red` draws 1 red, 0 white and -1 blue; any colormap-package name works too (`rainbow` is the reference's). */
        colormap: z.string().default('blue-white-red'),
        /** Values drawn at the ends of the colour map; a range spanning 0 puts 0 at the map's centre. */
        range: z.tuple([z.number(), z.number()]).refine(([lo, hi]) => lo < hi, 'range must be [low, high] with low < high').default([-1, 1]),
        /** Side of the drawn matrix in pixels. */
        size: z.number().int().min(32).max(4096).default(512),
        /** Name of the task output holding the matrix. */
        outputKey: z.string().default('crossCorrelation'),
      }),
      declares: (options) => ({ needs: { outputs: [options.outputKey] } }),
      create: (options, ctx) => new CrossCorrelationCallback(options, ctx),
    });
  },
});
