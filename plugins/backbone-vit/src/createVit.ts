import { ConfigError, resolveWeights, z } from '@bt-platform/sdk';
import type { RunContext } from '@bt-platform/sdk';
import { loadWeights } from '@bt-platform/sdk/nn';
import { resamplePosEmbed } from './resamplePosEmbed.js';
import { defaultOutIndices, VARIANTS } from './variants.js';
import { VisionTransformer } from './VisionTransformer.js';
import type { VitConfig } from './VisionTransformer.js';

const weightsOptions = {
  weights: z.string().optional().describe('timm-named safetensors: a path (relative to the config file), a known name, hf:<owner>/<repo> or an https URL.'),
  strict: z.boolean().default(true).describe('Refuse files with missing, unexpected or mis-shaped tensors.'),
  freeze: z.boolean().default(false).describe('Make every backbone parameter non-trainable.'),
  outIndices: z.array(z.number().int().nonnegative()).optional(),
  posEmbedInterpolation: z.enum(['bicubic-antialias', 'bicubic']).default('bicubic-antialias'),
  /**
   * Recompute each block's activations in the backward pass instead of keeping them: about a third
   * more compute for a fraction of the memory. `auto`: on when a training step is estimated not to
   * fit the backend's memory ceiling (the 4 GB heap of wasm and native).
   */
  checkpointActivations: z.union([z.boolean(), z.literal('auto')]).default('auto'),
};

export const vitOptions = z.strictObject({
  variant: z.enum(['tiny/16', 'small/16', 'small/8', 'base/16', 'base/8', 'custom']).default('small/16').describe('timm variant (embedding width/patch size); custom: set patchSize, embedDim, depth, heads, mlpRatio.'),
  imageSize: z.number().int().positive().default(224).describe('Pretraining input side: sets the position-embedding grid (other input sizes are resampled).'),
  patchSize: z.number().int().positive().optional().describe('custom only: patch side in pixels.'),
  embedDim: z.number().int().positive().optional().describe('custom only: token width.'),
  depth: z.number().int().positive().optional().describe('custom only: transformer blocks.'),
  heads: z.number().int().positive().optional().describe('custom only: attention heads per block.'),
  mlpRatio: z.number().positive().optional().describe('custom only: MLP hidden width over embedDim.'),
  qkvBias: z.boolean().default(true).describe('Biases in the attention q/k/v projection.'),
  dropout: z.number().min(0).max(1).default(0),
  attnDropout: z.number().min(0).max(1).default(0).describe('Dropout on the attention weights.'),
  dropPath: z.number().min(0).max(1).default(0).describe('Stochastic depth rate of the last block (linear from 0).'),
  /** timm's global_pool: what `pooled` (the Barlow Twins projector's input) is made of. */
  globalPool: z.enum(['token', 'avg']).default('token').describe('`pooled` output: the CLS token (token) or the mean of the patch tokens (avg), after the final norm.'),
  ...weightsOptions,
});

export const vitPytorchOptions = z.strictObject({
  imageSize: z.number().int().positive().default(224),
  patchSize: z.number().int().positive().default(16),
  dim: z.number().int().positive().default(384),
  depth: z.number().int().positive().default(12),
  heads: z.number().int().positive().default(6),
  mlpDim: z.number().int().positive().default(1536),
  dropout: z.number().min(0).max(1).default(0),
  embDropout: z.number().min(0).max(1).default(0),
  ...weightsOptions,
});

export function vitConfig(options: z.output<typeof vitOptions>): VitConfig {
  const custom = { patchSize: options.patchSize, embedDim: options.embedDim, depth: options.depth, heads: options.heads, mlpRatio: options.mlpRatio };
  let dims: { embedDim: number; depth: number; heads: number; patchSize: number; mlpRatio: number };
  if (options.variant === 'custom') {
    dims = { embedDim: 192, depth: 12, heads: 3, patchSize: 16, mlpRatio: 4 };
    for (const [k, v] of Object.entries(custom)) if (v !== undefined) (dims as Record<string, number>)[k] = v;
  } else {
    const given = Object.entries(custom).filter(([, v]) => v !== undefined).map(([k]) => k);
    if (given.length)
      throw new ConfigError('CONFIG_INVALID', `model.backbone (vit): ${given.join(', ')} cannot be set with variant "${options.variant}".`, {
        hint: 'Use `variant: custom` to choose the dimensions, or remove them to use the named variant.',
      });
    dims = { ...VARIANTS[options.variant], mlpRatio: 4 };
  }
  return {
    imageSize: options.imageSize,
    patchSize: dims.patchSize,
    embedDim: dims.embedDim,
    depth: dims.depth,
    heads: dims.heads,
    mlpDim: Math.round(dims.embedDim * dims.mlpRatio),
    qkvBias: options.qkvBias,
    layerNormEps: 1e-6,
    dropout: options.dropout,
    posDropout: options.dropout,
    attnDropout: options.attnDropout,
    dropPath: options.dropPath,
    outIndices: options.outIndices ?? defaultOutIndices(dims.depth),
    posEmbedInterpolation: options.posEmbedInterpolation,
    checkpointActivations: options.checkpointActivations,
    globalPool: options.globalPool,
  };
}

/** vit-pytorch's parameterisation mapped onto the same model (timm names; LayerNorm eps 1e-5 as nn.LayerNorm). */
export function vitPytorchConfig(options: z.output<typeof vitPytorchOptions>): VitConfig {
  return {
    imageSize: options.imageSize,
    patchSize: options.patchSize,
    embedDim: options.dim,
    depth: options.depth,
    heads: options.heads,
    mlpDim: options.mlpDim,
    qkvBias: false,
    layerNormEps: 1e-5,
    dropout: options.dropout,
    posDropout: options.embDropout,
    attnDropout: options.dropout,
    dropPath: 0,
    outIndices: options.outIndices ?? defaultOutIndices(options.depth),
    posEmbedInterpolation: options.posEmbedInterpolation,
    checkpointActivations: options.checkpointActivations,
    globalPool: 'token',
  };
}

/** Builds the model, loads weights and freezes as the options say. */
export async function buildVit(config: VitConfig, options: { weights?: string; strict: boolean; freeze: boolean }, ctx: RunContext, name: string) {
  if (config.imageSize % config.patchSize !== 0)
    throw new ConfigError('CONFIG_INVALID', `model.backbone (${name}): imageSize ${config.imageSize} is not a multiple of patchSize ${config.patchSize}.`, {
      hint: 'Choose an imageSize divisible by the patch size.',
    });
  if (config.embedDim % config.heads !== 0)
    throw new ConfigError('CONFIG_INVALID', `model.backbone (${name}): embedding dimension ${config.embedDim} is not divisible by heads ${config.heads}.`, {
      hint: 'Pick a number of heads that divides the embedding dimension.',
    });
  const bad = config.outIndices.find((i) => i >= config.depth);
  if (bad !== undefined)
    throw new ConfigError('CONFIG_INVALID', `model.backbone (${name}): outIndices contains ${bad}, but the model has ${config.depth} blocks.`, {
      hint: `Give block indices from 0 to ${config.depth - 1}.`,
    });
  const model = new VisionTransformer(config, ctx.rng, (message) => ctx.log.info(`model.backbone (${name}): ${message}`));
  if (options.weights) {
    const grid = config.imageSize / config.patchSize;
    await loadWeights(model, await resolveWeights(options.weights, ctx, { option: `model.backbone (${name}).weights` }), {
      strict: options.strict,
      log: ctx.log,
      prefixes: ['backbone.', 'model.backbone.', 'module.', 'encoder.', 'teacher.backbone.', 'student.backbone.'],
      // Classifier and pre-logits parts of timm checkpoints; a backbone has none.
      ignore: [/^head\./, /^fc_norm\./, /^head_drop\./, /^pre_logits\./],
      adapt: (state) => resamplePosEmbed(state, grid, config.posEmbedInterpolation === 'bicubic-antialias', ctx.log),
    });
  }
  if (options.freeze) model.freeze();
  return model;
}
