import { z } from '@bt-platform/sdk';
import type { Head, RunContext } from '@bt-platform/sdk';
import { LinearHead, SetrMlaHead, SetrNaiveHead, SetrPupHead } from './heads.js';
import type { HeadConfig } from './heads.js';
import { incompatible, loadWeights, resolveHeadContext } from '@bt-platform/sdk/nn';

export const headOptions = z.strictObject({
  /** Default: the datamodule's class count, else 21 (PASCAL VOC). */
  numClasses: z.number().int().positive().optional(),
  /** A .safetensors file with this head's parameters (relative to the config file). */
  weights: z.string().optional(),
  strict: z.boolean().default(true),
});

export type HeadName = 'linear' | 'setr-naive' | 'setr-pup' | 'setr-mla';

const HEADS: Record<HeadName, new (config: HeadConfig, rng: RunContext['rng']) => Head & { dispose(): void }> = {
  linear: LinearHead,
  'setr-naive': SetrNaiveHead,
  'setr-pup': SetrPupHead,
  'setr-mla': SetrMlaHead,
};

export async function buildHead(name: HeadName, options: z.output<typeof headOptions>, ctx: RunContext): Promise<Head> {
  const { backbone, backboneName, numClasses } = await resolveHeadContext(ctx, options.numClasses);
  if (name === 'setr-mla' && backbone.kind !== 'vit')
    throw incompatible(name, backboneName, 'SETR-MLA aggregates intermediate transformer blocks, which a CNN backbone does not produce', 'Use a ViT backbone (`vit` or `vit-pytorch`), or the `deeplabv3` head (or `setr-naive`) for a CNN.');
  if (name === 'setr-pup' && ![2, 4, 8, 16].includes(backbone.stride))
    throw incompatible(name, backboneName, `SETR-PUP upsamples by 2 to 16 in 2× steps but the backbone's stride is ${backbone.stride}`, 'Use a ViT with patch size 8 or 16, a dilated ResNet (output stride 8), or the `setr-naive` or `deeplabv3` head.');
  if (name === 'linear' && backbone.kind !== 'vit')
    throw incompatible(name, backboneName, 'the linear head classifies each patch token, and a CNN backbone has no patch tokens', 'Use a ViT backbone, or the `deeplabv3` head for a ResNet.');
  const head = new HEADS[name]({ dim: backbone.featureDim, stride: backbone.stride, numClasses }, ctx.rng);
  if (options.weights)
    await loadWeights(head, ctx.resolvePath(options.weights), { strict: options.strict, log: ctx.log, prefixes: ['head.', 'model.head.', 'decode_head.', 'module.'] });
  return head;
}
