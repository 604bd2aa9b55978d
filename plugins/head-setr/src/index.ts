import { definePlugin, Slots, type HeadNeeds } from '@bt-platform/sdk';
import { buildHead, headOptions } from './createHead.js';
import type { HeadName } from './createHead.js';

export { LinearHead, SetrNaiveHead, SetrPupHead, SetrMlaHead } from './heads.js';
export type { HeadConfig } from './heads.js';
export { headOptions } from './createHead.js';

const DESCRIPTIONS: Record<HeadName, string> = {
  linear: 'Per-patch linear layer to patch×patch×classes, rearranged to the image.',
  'setr-naive': 'SETR-Naive: 1×1 conv, BN, ReLU, 1×1 conv, bilinear upsampling by the patch size.',
  'setr-pup': 'SETR-PUP: progressive 2× upsampling with 1×1 convolutions (patch 8 skips one stage).',
  'setr-mla': 'SETR-MLA: multi-level aggregation of 4 intermediate ViT blocks (the backbone’s outIndices).',
};

/** What each head reads from the backbone (checked before a run starts). */
const NEEDS: Record<HeadName, HeadNeeds> = {
  linear: { tokens: true },
  'setr-naive': { featureMap: true },
  'setr-pup': { featureMap: true, strides: [2, 4, 8, 16] },
  'setr-mla': { tokens: true, intermediates: 4 },
};

/** Segmentation heads for ViT features (Linear and the SETR family). */
export default definePlugin({
  name: 'head-setr',
  description: 'Linear, SETR-Naive, SETR-PUP and SETR-MLA segmentation heads.',
  register(registrar) {
    for (const name of Object.keys(DESCRIPTIONS) as HeadName[]) {
      registrar.component(Slots.head, { name, description: DESCRIPTIONS[name], options: headOptions, declares: { needs: NEEDS[name] }, create: (options, ctx) => buildHead(name, options, ctx) });
    }
  },
});
