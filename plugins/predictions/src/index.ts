import { definePlugin, Slots, z } from '@bt-platform/sdk';
import { PredictionsCallback } from './PredictionsCallback.js';
import { ViewsCallback } from './ViewsCallback.js';

export default definePlugin({
  name: 'predictions',
  description: 'Images of segmentation predictions against ground truth, and of the Barlow Twins augmented views.',
  register(registrar) {
    registrar.component(Slots.callback, {
      name: 'predictions',
      description: 'Image | ground truth | prediction for the first images of each stage\'s first batch, with a class legend.',
      options: z.strictObject({
        images: z.number().int().positive().max(32).default(4),
        everyNEpochs: z.number().int().positive().default(1),
        stages: z.array(z.enum(['train', 'val', 'test'])).min(1).default(['val']),
        imageKey: z.string().default('image'),
        maskKey: z.string().default('mask'),
        outputKey: z.string().default('logits'),
        /** Small images are enlarged (by an integer factor) to at least this many pixels. */
        minPanelSize: z.number().int().positive().default(128),
      }),
      create: (options, ctx) => new PredictionsCallback(options, ctx),
    });
    registrar.component(Slots.callback, {
      name: 'augmented-views',
      description: 'The two augmented views of the first images of each stage\'s first batch (Barlow Twins).',
      options: z.strictObject({
        images: z.number().int().positive().max(32).default(4),
        everyNEpochs: z.number().int().positive().default(1),
        stages: z.array(z.enum(['train', 'val'])).min(1).default(['train']),
        keys: z.tuple([z.string(), z.string()]).default(['view1', 'view2']),
        minPanelSize: z.number().int().positive().default(128),
      }),
      create: (options, ctx) => new ViewsCallback(options, ctx),
    });
  },
});
