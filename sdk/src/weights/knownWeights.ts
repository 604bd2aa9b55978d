/** A pretrained checkpoint that `weights:` can name in one word. */
export interface KnownWeights {
  name: string;
  /** Where it is downloaded from: `hf:<owner>/<repo>[/<file>]` or an https URL of a .safetensors file. */
  source: string;
  /**
   * Lowercase hex SHA-256 of the file, only where it is published and verified. Without it the
   * download is checked against the server's checksum, or the first download's is recorded.
   */
  sha256?: string;
  description: string;
  /** The backbone setting these weights fit. */
  backbone: string;
}

/**
 * The checkpoints the reference experiments start from, as timm republishes them on the Hugging
 * Face Hub in safetensors (DINO's and torchvision's own releases are .pth pickles). timm keeps the
 * original parameter names, which are the ones the backbones use.
 */
export const KNOWN_WEIGHTS: readonly KnownWeights[] = [
  { name: 'dino_vits16', source: 'hf:timm/vit_small_patch16_224.dino', description: 'DINO ViT-S/16, self-supervised on ImageNet-1k', backbone: '{ use: vit, variant: small/16 }' },
  { name: 'dino_vits8', source: 'hf:timm/vit_small_patch8_224.dino', description: 'DINO ViT-S/8, self-supervised on ImageNet-1k', backbone: '{ use: vit, variant: small/8 }' },
  { name: 'dino_vitb16', source: 'hf:timm/vit_base_patch16_224.dino', description: 'DINO ViT-B/16, self-supervised on ImageNet-1k', backbone: '{ use: vit, variant: base/16 }' },
  { name: 'dino_vitb8', source: 'hf:timm/vit_base_patch8_224.dino', description: 'DINO ViT-B/8, self-supervised on ImageNet-1k', backbone: '{ use: vit, variant: base/8 }' },
  { name: 'deit_tiny', source: 'hf:timm/deit_tiny_patch16_224.fb_in1k', description: 'DeiT-Tiny/16, supervised on ImageNet-1k', backbone: '{ use: vit, variant: tiny/16 }' },
  { name: 'torchvision_resnet18', source: 'hf:timm/resnet18.tv_in1k', description: "torchvision's ResNet-18 (IMAGENET1K_V1)", backbone: '{ use: resnet18 }' },
  { name: 'torchvision_resnet34', source: 'hf:timm/resnet34.tv_in1k', description: "torchvision's ResNet-34 (IMAGENET1K_V1)", backbone: '{ use: resnet34 }' },
  { name: 'torchvision_resnet50', source: 'hf:timm/resnet50.tv_in1k', description: "torchvision's ResNet-50 (IMAGENET1K_V1)", backbone: '{ use: resnet50 }' },
  { name: 'torchvision_resnet101', source: 'hf:timm/resnet101.tv_in1k', description: "torchvision's ResNet-101 (IMAGENET1K_V1)", backbone: '{ use: resnet101 }' },
];

export function knownWeights(name: string): KnownWeights | undefined {
  return KNOWN_WEIGHTS.find((entry) => entry.name === name);
}
