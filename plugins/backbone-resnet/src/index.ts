import { definePlugin, Slots, type BackboneDeclaration } from '@bt-platform/sdk';
import { ARCHITECTURES, buildResNet, fromDilated, resnetByVariantOptions, resnetOptions } from './createResNet.js';
import type { Architecture } from './createResNet.js';

export { ResNet, BasicBlock, Bottleneck } from './ResNet.js';
export type { ResNetConfig } from './ResNet.js';
export { ARCHITECTURES, resnetOptions, resnetByVariantOptions } from './createResNet.js';

/** A ResNet gives its last feature map at its output stride, and no tokens. */
const provides = (stride: number): BackboneDeclaration => ({ provides: { kind: 'cnn', tokens: false, featureMap: true, intermediates: 0, stride, batchStatistics: true } });

/** torchvision ResNets as backbones: featureMap = layer4 output, pooled = its global average. */
export default definePlugin({
  name: 'backbone-resnet',
  description: 'torchvision ResNet-18/34/50/101 with torchvision parameter names, BatchNorm running statistics and optional dilation (output stride 8).',
  register(registrar) {
    for (const arch of Object.keys(ARCHITECTURES) as Architecture[]) {
      registrar.component(Slots.backbone, {
        name: arch,
        description: `torchvision ${arch} without its classifier; \`dilated: true\` for DeepLabV3's output stride 8.`,
        options: resnetOptions,
        declares: (options) => provides(fromDilated(options).outputStride),
        create: (options, ctx) => buildResNet(arch, fromDilated(options), ctx),
      });
    }
    registrar.component(Slots.backbone, {
      name: 'resnet',
      description: 'Any of the above by `variant` (default resnet50), with `outputStride` 32, 16 or 8 (8 for DeepLabV3).',
      options: resnetByVariantOptions,
      declares: (options) => provides(options.outputStride),
      create: (options, ctx) => buildResNet(options.variant, options, ctx, 'resnet'),
    });
  },
});
