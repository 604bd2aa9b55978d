/** The named ViTs of the reference (timm names in comments); all pretrained at 224×224. */
export const VARIANTS = {
  'tiny/16': { embedDim: 192, depth: 12, heads: 3, patchSize: 16 }, // deit_tiny_patch16_224
  'small/16': { embedDim: 384, depth: 12, heads: 6, patchSize: 16 }, // vit_small_patch16_224(_dino)
  'small/8': { embedDim: 384, depth: 12, heads: 6, patchSize: 8 }, // vit_small_patch8_224_dino
  'base/16': { embedDim: 768, depth: 12, heads: 12, patchSize: 16 }, // vit_base_patch16_224(_dino)
  'base/8': { embedDim: 768, depth: 12, heads: 12, patchSize: 8 }, // vit_base_patch8_224(_dino)
} as const;

export type VariantName = keyof typeof VARIANTS;

/** Four blocks spread evenly over the depth, the last included (SETR-MLA's choice for 24 blocks is 5, 11, 17, 23). */
export function defaultOutIndices(depth: number): number[] {
  return [1, 2, 3, 4].map((k) => Math.max(0, Math.round((k * depth) / 4) - 1));
}
