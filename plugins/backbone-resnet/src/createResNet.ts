import { ConfigError, resolveWeights, z } from '@bt-platform/sdk';
import type { RunContext } from '@bt-platform/sdk';
import { loadWeights } from '@bt-platform/sdk/nn';
import { ResNet } from './ResNet.js';
import type { ResNetConfig } from './ResNet.js';

/** torchvision's depths. */
export const ARCHITECTURES = {
  resnet18: { block: 'basic', layers: [2, 2, 2, 2] },
  resnet34: { block: 'basic', layers: [3, 4, 6, 3] },
  resnet50: { block: 'bottleneck', layers: [3, 4, 6, 3] },
  resnet101: { block: 'bottleneck', layers: [3, 4, 23, 3] },
} as const satisfies Record<string, Pick<ResNetConfig, 'block' | 'layers'>>;

export type Architecture = keyof typeof ARCHITECTURES;

export const resnetOptions = z.strictObject({
  dilated: z.boolean().default(false).describe('Output stride 8 (torchvision\'s replace_stride_with_dilation [false, true, true]), as DeepLabV3 uses.'),
  baseWidth: z.number().int().positive().default(64).describe('Stem width; 64 is torchvision\'s. Smaller values make tiny CPU-sized models (weights then differ in shape).'),
  weights: z.string().optional().describe('torchvision-named safetensors: a path (relative to the config file), a known name, hf:<owner>/<repo> or an https URL.'),
  strict: z.boolean().default(true).describe('Refuse weights whose tensor names or shapes do not all match.'),
  freeze: z.boolean().default(false).describe('Keep the backbone weights fixed during training.'),
  /**
   * Recompute the stem's and each residual block's activations in the backward pass instead of
   * keeping them: about a third more compute for a fraction of the memory. `auto`: on when a
   * training step is estimated not to fit the backend's memory ceiling (the 4 GB heap of wasm and native).
   */
  checkpointActivations: z.union([z.boolean(), z.literal('auto')]).default('auto'),
});

/** The same backbones as one component: `variant` picks the depth, `outputStride` the dilation (8: DeepLabV3, 16: layer4 dilated). */
export const resnetByVariantOptions = z.strictObject({
  variant: z.enum(Object.keys(ARCHITECTURES) as [Architecture, ...Architecture[]]).default('resnet50').describe('torchvision architecture.'),
  outputStride: z.union([z.literal(8), z.literal(16), z.literal(32)]).default(32).describe('Input side over feature-map side; 8 or 16 dilate the last stages (DeepLabV3: 8).'),
  ...resnetOptions.omit({ dilated: true }).shape,
});

type BuildOptions = Omit<z.output<typeof resnetOptions>, 'dilated'> & { outputStride: 8 | 16 | 32 };

export function fromDilated(options: z.output<typeof resnetOptions>): BuildOptions {
  const { dilated, ...rest } = options;
  return { ...rest, outputStride: dilated ? 8 : 32 };
}

export async function buildResNet(arch: Architecture, options: BuildOptions, ctx: RunContext, component: string = arch): Promise<ResNet> {
  const spec = ARCHITECTURES[arch];
  const stride = options.outputStride;
  if (stride !== 32 && spec.block === 'basic')
    throw new ConfigError('CONFIG_INVALID', `model.backbone (${component}): ${arch} cannot be dilated (output stride ${stride}); torchvision dilates only bottleneck ResNets.`, {
      hint: 'Use resnet50 (or resnet101) for a dilated backbone, or keep the output stride at 32 (dilated: false).',
    });
  const config: ResNetConfig = {
    block: spec.block,
    layers: [...spec.layers],
    baseWidth: options.baseWidth,
    dilate: [false, stride === 8, stride <= 16],
    checkpointActivations: options.checkpointActivations,
  };
  const model = new ResNet(config, ctx.rng, (message) => ctx.log.info(`model.backbone (${component}): ${message}`));
  if (options.weights) {
    await loadWeights(model, await resolveWeights(options.weights, ctx, { option: `model.backbone (${component}).weights` }), {
      strict: options.strict,
      log: ctx.log,
      // DeepLabV3 and whole-model checkpoints keep the backbone under a prefix.
      prefixes: ['backbone.', 'model.backbone.', 'module.', 'encoder.', 'net.backbone.'],
      // A classification checkpoint's classifier, or DeepLabV3's heads when no prefix is used.
      ignore: [/^fc\./, /^classifier\./, /^aux_classifier\./],
    });
  }
  if (options.freeze) model.freeze();
  return model;
}
