import { definePlugin, Slots } from '@bt-platform/sdk';
import { BarlowTwinsTask, barlowTwinsOptions } from './BarlowTwinsTask.js';

export { BarlowTwinsTask, barlowTwinsOptions } from './BarlowTwinsTask.js';
export { BarlowTwinsModel } from './BarlowTwinsModel.js';
export { barlowTwinsLoss, crossCorrelationLoss, standardizeBatch } from './barlowTwinsLoss.js';
export { createProjector } from './Projector.js';

export default definePlugin({
  name: 'task-barlow-twins',
  description: 'Barlow Twins self-supervised pre-training of any registered backbone.',
  register(registrar) {
    registrar.component(Slots.task, {
      name: 'barlow-twins',
      description: 'Backbone + projector trained with the Barlow Twins redundancy-reduction loss.',
      options: barlowTwinsOptions,
      declares: ({ views }) => ({
        batch: ['view1', 'view2'],
        logs: ['invariance', 'redundancy', 'diag_mean', 'offdiag_abs_mean'],
        outputs: ['crossCorrelation', 'embeddings1', 'embeddings2'],
        uses: ['backbone'],
        jointBackbonePass: views === 'joint' ? { option: 'views', value: 'joint' } : undefined,
      }),
      async create(options, ctx) {
        const backbone = await ctx.get(Slots.backbone);
        return new BarlowTwinsTask(backbone, options, ctx.rng.tfSeed());
      },
    });
  },
});
