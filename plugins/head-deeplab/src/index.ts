import { definePlugin, Slots, z } from '@bt-platform/sdk';
import { DeepLabHead } from './DeepLabHead.js';
import { loadWeights, resolveHeadContext } from '@bt-platform/sdk/nn';

export { DeepLabHead, Aspp } from './DeepLabHead.js';
export type { DeepLabConfig } from './DeepLabHead.js';

export const deeplabOptions = z.strictObject({
  /** Default: the datamodule's class count, else 21 (PASCAL VOC). */
  numClasses: z.number().int().positive().optional(),
  /** ASPP dilation rates (torchvision: 12, 24, 36 for output stride 8). */
  atrousRates: z.array(z.number().int().positive()).min(1).default([12, 24, 36]),
  /** ASPP and decoder channels (torchvision: 256). */
  channels: z.number().int().positive().default(256),
  /** Dropout after the ASPP projection (torchvision: 0.5). */
  dropout: z.number().min(0).max(1).default(0.5),
  /** A .safetensors file: this head's parameters, or a whole torchvision deeplabv3 checkpoint (its `classifier.*` part is used). */
  weights: z.string().optional(),
  strict: z.boolean().default(true),
  /** Recompute the head's activations in the backward pass instead of keeping them; `auto`: on the wasm and native backends (4 GB heap). */
  checkpointActivations: z.union([z.boolean(), z.literal('auto')]).default('auto'),
});

/** The DeepLabV3 head (ASPP) for a CNN feature map, typically a dilated ResNet-50 (`resnet50` with `dilated: true`). */
export default definePlugin({
  name: 'head-deeplab',
  description: 'torchvision DeepLabV3 head: ASPP (rates 12/24/36 and image pooling), 3×3 conv, BN, ReLU, 1×1 classifier, bilinear upsampling.',
  register(registrar) {
    registrar.component(Slots.head, {
      name: 'deeplabv3',
      description: 'torchvision DeepLabHead with torchvision parameter names; pair with `resnet50` and `dilated: true` for DeepLabV3-ResNet-50.',
      options: deeplabOptions,
      declares: { needs: { featureMap: true } },
      async create(options, ctx) {
        const { backbone, numClasses } = await resolveHeadContext(ctx, options.numClasses);
        const { atrousRates, channels, dropout, checkpointActivations } = options;
        const head = new DeepLabHead({ inChannels: backbone.featureDim, numClasses, atrousRates, channels, dropout, checkpointActivations }, ctx.rng);
        if (options.weights)
          await loadWeights(head, ctx.resolvePath(options.weights), { strict: options.strict, log: ctx.log, prefixes: ['classifier.', 'head.', 'model.head.', 'model.net.classifier.', 'net.classifier.'] });
        return head;
      },
    });
  },
});
export { AtrousConv2d } from './AtrousConv2d.js';
