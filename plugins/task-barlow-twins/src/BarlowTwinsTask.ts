import * as tf from '@tensorflow/tfjs';
import { BtError, ConfigError, z, type Backbone, type Batch, type StepOutput, type Task } from '@bt-platform/sdk';
import { assertBatch, barlowTwinsLoss, crossCorrelationLoss, type BarlowTwinsTerms } from './barlowTwinsLoss.js';
import { BarlowTwinsModel } from './BarlowTwinsModel.js';
import { createProjector } from './Projector.js';

export const barlowTwinsOptions = z.strictObject({
  projectorDim: z.number().int().positive().default(512).describe('Width of every projector layer (the paper: 8192; the reference: 512).'),
  projectorLayers: z.number().int().positive().default(3).describe('Linear layers in the projector (BatchNorm1d + ReLU between them).'),
  projectorBias: z.boolean().default(false).describe('Biases in the projector\'s Linear layers (the paper has none).'),
  lambda: z.number().default(5e-3).describe('Weight λ of the redundancy-reduction term; must be > 0.'),
  standardize: z.enum(['batchnorm', 'std']).default('batchnorm').describe('How embeddings are standardised over the batch before the cross-correlation: the paper\'s BatchNorm (biased variance + eps) or the unbiased std.'),
  eps: z.number().positive().default(1e-5).describe('Added to the variance when standardising.'),
  views: z
    .enum(['auto', 'joint', 'separate'])
    .default('auto')
    .describe(
      'How the two views go through the backbone: `joint`, as one batch of both (the same result to rounding, half the kernel launches; only for a backbone whose layers treat samples independently, i.e. no BatchNorm while training); `separate`, one pass per view, as the paper\'s code; `auto`, joint on GPU backends (webgpu, webgl), where each launch costs host time, when the backbone allows it, else separate.',
    ),
});

export type BarlowTwinsOptions = z.output<typeof barlowTwinsOptions>;

/**
 * Backends where each kernel launch costs host time the device cannot hide, so one pass over both
 * views pays (a ViT step on webgpu: 1420 → 805 dispatches). On the CPU backends compute dominates
 * and it does not (measured equal within noise).
 */
const DISPATCH_BOUND_BACKENDS = new Set(['webgpu', 'webgl']);

/**
 * Barlow Twins pre-training: both views go through backbone and projector; the loss drives the
 * cross-correlation of the batch-standardised embeddings towards the identity. Logs the loss
 * terms, the mean diagonal and mean |off-diagonal|, and hands callbacks the matrix itself as
 * `outputs.crossCorrelation`.
 */
export class BarlowTwinsTask implements Task {
  readonly model: BarlowTwinsModel;

  constructor(
    backbone: Backbone,
    private readonly options: BarlowTwinsOptions,
    seed: number,
  ) {
    if (!(options.lambda > 0)) {
      throw new ConfigError('CONFIG_INVALID', `task "barlow-twins": \`lambda\` must be > 0 (got ${options.lambda}); without the redundancy term the embeddings collapse.`, {
        hint: 'Use the paper\'s 5e-3 (8192-d projector) or about 1/projectorDim, e.g. `lambda: 5e-2` for a 512-d projector as in the reference.',
      });
    }
    const projector = createProjector(backbone.featureDim, options.projectorDim, options.projectorLayers, options.projectorBias, seed);
    this.model = new BarlowTwinsModel(backbone, projector, options.projectorDim, options.eps);
  }

  /**
   * Training standardises with the batch's statistics (and the model's `bn` tracks them, as the
   * paper's `bn(z)` does); evaluation too when the batch has 2 samples or more, so val/loss means
   * what train/loss means, else with the tracked running statistics.
   */
  private terms(z1: tf.Tensor2D, z2: tf.Tensor2D): BarlowTwinsTerms {
    const { lambda, standardize, eps } = this.options;
    const bn = this.model.bn;
    if (bn.training) {
      assertBatch(z1.shape[0]);
      const s1 = bn.call(z1);
      const s2 = bn.call(z2);
      if (standardize === 'batchnorm') return crossCorrelationLoss(s1, s2, lambda);
      return barlowTwinsLoss(z1, z2, lambda, standardize, eps);
    }
    if (z1.shape[0] >= 2) return barlowTwinsLoss(z1, z2, lambda, standardize, eps);
    return crossCorrelationLoss(bn.call(z1), bn.call(z2), lambda);
  }

  private step(batch: Batch): StepOutput {
    const { view1, view2 } = batch;
    if (!view1 || !view2) {
      throw new BtError('RUNTIME', `task "barlow-twins" needs batches with two views \`view1\` and \`view2\`; got keys: ${Object.keys(batch).join(', ') || 'none'}.`, {
        hint: 'Use a datamodule in Barlow Twins mode (e.g. `data: { use: voc, mode: barlow-twins }`).',
        exitCode: 2,
      });
    }
    // Checked before the forward pass, whose BatchNorm layers would refuse a single sample less clearly.
    if (this.model.training) assertBatch(view1.shape[0]);
    const [z1, z2] = this.model.embedPair(view1 as tf.Tensor4D, view2 as tf.Tensor4D, this.jointPass());
    const terms = this.terms(z1, z2);
    return {
      loss: terms.loss,
      // The trainer logs `loss` itself (train/loss, val/loss); these are the extra scalars.
      logs: {
        invariance: terms.invariance,
        redundancy: terms.redundancy,
        diag_mean: terms.diagMean,
        offdiag_abs_mean: terms.offDiagAbsMean,
      },
      outputs: { crossCorrelation: terms.crossCorrelation, embeddings1: z1, embeddings2: z2 },
    };
  }

  private jointPass(): boolean {
    const { views } = this.options;
    if (views === 'separate') return false;
    const mixes = this.model.backbone.mixesSamples();
    if (views === 'joint' && mixes) {
      throw new ConfigError('CONFIG_INVALID', 'task "barlow-twins": `views: joint` runs both views through the backbone as one batch, but this backbone mixes the samples of a batch (BatchNorm with batch statistics), so each view would be normalised with the other\'s statistics.', {
        hint: 'Set `task.views: auto` (joint only where the backbone allows it) or `separate`.',
      });
    }
    return !mixes && (views === 'joint' || DISPATCH_BOUND_BACKENDS.has(tf.getBackend()));
  }

  trainingStep(batch: Batch): StepOutput {
    return this.step(batch);
  }

  validationStep(batch: Batch): StepOutput {
    return this.step(batch);
  }

  testStep(batch: Batch): StepOutput {
    return this.step(batch);
  }
}
