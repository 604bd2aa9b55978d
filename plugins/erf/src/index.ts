import { definePlugin, Slots, z } from '@bt-platform/sdk';
import { ErfCallback } from './ErfCallback.js';

export default definePlugin({
  name: 'erf',
  description: 'Effective receptive fields of backbone layers (ResNet, DeepLabV3 and ViT).',
  register(registrar) {
    registrar.component(Slots.callback, {
      name: 'erf',
      description: 'Gradient of each selected layer\'s central output unit w.r.t. the input, averaged over a few batches.',
      options: z.strictObject({
        /** A count of evenly spaced layers (first and last included), or module-name patterns. */
        layers: z.union([z.number().int().positive(), z.array(z.string().min(1)).min(1)]).default(4),
        /** Batches of images averaged. */
        batches: z.number().int().positive().default(2),
        /** Use only the first images of each batch (one backward pass per layer costs about a training step of that many images). */
        imagesPerBatch: z.number().int().positive().optional(),
        source: z.enum(['val', 'train']).default('val'),
        everyNEpochs: z.number().int().positive().default(1),
        colormap: z.string().default('inferno'),
        /**
         * Each layer is normalised to its own peak. `log` (three decades below the peak) shows how far
         * the field reaches, so deeper layers visibly grow even when the centre dominates, as it does
         * through residual connections; `linear` shows only where it is strong.
         */
        scale: z.enum(['linear', 'log']).default('log'),
        minPanelSize: z.number().int().positive().default(160),
      }),
      // Any backbone works (convolutional or not): the field is a gradient with respect to the input images.
      declares: { needs: { slots: ['backbone'], batch: [['image', 'view1']] } },
      create: (options, ctx) => new ErfCallback(options, ctx),
    });
  },
});
