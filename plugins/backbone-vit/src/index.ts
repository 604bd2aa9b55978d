import { definePlugin, Slots, type BackboneDeclaration } from '@bt-platform/sdk';
import { buildVit, vitConfig, vitOptions, vitPytorchConfig, vitPytorchOptions } from './createVit.js';
import type { VitConfig } from './VisionTransformer.js';

export { VisionTransformer, Attention, Block, Mlp, PatchEmbed } from './VisionTransformer.js';
export type { VitConfig } from './VisionTransformer.js';
export { bicubicMatrix } from './bicubicMatrix.js';
export { VARIANTS, defaultOutIndices } from './variants.js';
export { vitConfig, vitPytorchConfig, vitOptions, vitPytorchOptions } from './createVit.js';

/** Every ViT gives its tokens, their patch grid, the `outIndices` blocks and observable attention. */
function provides(config: VitConfig): BackboneDeclaration {
  return { provides: { kind: 'vit', tokens: true, featureMap: true, intermediates: config.outIndices.length, stride: config.patchSize, attention: true } };
}

/**
 * Vision Transformer backbones. Attention probabilities of block i are the output of the identity
 * module `blocks.<i>.attn.probs` ([B, heads, 1 + N, 1 + N], CLS first): tap its forwardHook.
 */
export default definePlugin({
  name: 'backbone-vit',
  description: 'timm-style Vision Transformers (deit-tiny, ViT-S/16, ViT-S/8, ViT-B/16, ViT-B/8, custom) and the vit-pytorch parameterisation.',
  register(registrar) {
    registrar.component(Slots.backbone, {
      name: 'vit',
      description: 'timm ViT with timm parameter names; `variant` tiny/16, small/16, small/8, base/16, base/8 or custom.',
      options: vitOptions,
      declares: (options) => provides(vitConfig(options)),
      create: (options, ctx) => buildVit(vitConfig(options), options, ctx, 'vit'),
    });
    registrar.component(Slots.backbone, {
      name: 'vit-pytorch',
      description: 'ViT parameterised as vit-pytorch (dim, depth, heads, mlpDim, dropout); same model and names as `vit`.',
      options: vitPytorchOptions,
      declares: (options) => provides(vitPytorchConfig(options)),
      create: (options, ctx) => buildVit(vitPytorchConfig(options), options, ctx, 'vit-pytorch'),
    });
  },
});
