import { definePlugin, Slots, z } from '@bt-platform/sdk';
import { AttentionMapsCallback } from './AttentionMapsCallback.js';

export default definePlugin({
  name: 'attention-maps',
  description: 'DINO-style self-attention maps of a ViT\'s CLS token, per head and thresholded.',
  register(registrar) {
    registrar.component(Slots.callback, {
      name: 'attention-maps',
      description: 'Per-head CLS attention of the last ViT block for the first validation images, with DINO thresholding.',
      options: z.strictObject({
        /** How many validation images (the first ones, so always the same). */
        images: z.number().int().positive().max(32).default(4),
        /** Share of each head's attention mass the kept patches hold. */
        threshold: z.number().gt(0).lte(1).default(0.6),
        everyNEpochs: z.number().int().positive().default(1),
        /** Block index; negative counts from the end (-1: the last block). */
        block: z.number().int().default(-1),
        /**
         * Whose attention: the CLS token's row (`cls`, DINO's figure), or the mean of the patch tokens'
         * rows (`patches`: how a backbone pooled by averaging its patch tokens, `globalPool: avg`, weighs them).
         */
        query: z.enum(['cls', 'patches']).default('cls'),
        colormap: z.string().default('viridis'),
        /** Small images are enlarged (by an integer factor) to at least this many pixels. */
        minPanelSize: z.number().int().positive().default(160),
      }),
      declares: { needs: { backbone: { attention: true } } },
      create: (options, ctx) => new AttentionMapsCallback(options, ctx),
    });
  },
});
