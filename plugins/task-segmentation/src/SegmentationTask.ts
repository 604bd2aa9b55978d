import * as tf from '@tensorflow/tfjs';
import { BtError, ConfigError, z, type Backbone, type Batch, type Head, type StepContext, type StepOutput, type Task } from '@bt-platform/sdk';
import { ConfusionMatrix } from './ConfusionMatrix.js';
import { SegmentationModel } from './SegmentationModel.js';
import { segmentationLosses, type SegmentationLossName } from './segmentationLosses.js';

const lossNames = ['cross-entropy', 'dice', 'focal', 'jaccard'] as const;

const lossEntry = z.union([
  z.enum(lossNames).transform((use) => ({ use, weight: 1, gamma: 2 })),
  z.strictObject({
    use: z.enum(lossNames),
    weight: z.number().nonnegative().default(1),
    gamma: z.number().nonnegative().default(2).describe('Focal loss exponent (ignored by the other losses).'),
  }),
]);

export const segmentationOptions = z.strictObject({
  numClasses: z.number().int().min(2).optional().describe('Classes including background; defaults to the datamodule\'s.'),
  ignoreIndex: z.number().int().optional().describe('Label of void pixels; defaults to the datamodule\'s (VOC: 255).'),
  freezeBackbone: z.boolean().default(false).describe('Keep the backbone\'s weights fixed (and its normalisation layers in eval mode): a linear/head probe.'),
  freezeBackboneEpochs: z
    .number()
    .int()
    .nonnegative()
    .default(0)
    .describe('Keep the backbone frozen for this many first epochs, then train it too: the head learns on the initial features before they change (linear probe, then fine-tune).'),
  backboneCheckpoint: z.string().optional().describe('A Barlow Twins checkpoint to initialise the backbone from (path relative to the config file).'),
  trainMetrics: z.boolean().default(true).describe('Also accumulate a confusion matrix over training batches for train/accuracy and train/mIoU (as the reference logged train IoU).'),
  losses: z.array(lossEntry).min(1).default([{ use: 'cross-entropy', weight: 1, gamma: 2 }]).describe('Weighted sum of losses, e.g. `[{ use: cross-entropy }, { use: dice, weight: 0.5 }]`.'),
});

export type SegmentationOptions = z.output<typeof segmentationOptions>;

export interface SegmentationTaskParts {
  numClasses: number;
  ignoreIndex: number;
  classNames?: readonly string[];
}

/**
 * Semantic segmentation: backbone → head → per-pixel logits, a weighted sum of losses that ignore
 * void pixels, and metrics from one confusion matrix accumulated over each validation/test epoch.
 */
export class SegmentationTask implements Task {
  readonly model: SegmentationModel;
  private readonly confusion: ConfusionMatrix;
  private readonly trainConfusion: ConfusionMatrix;
  private readonly thawable: tf.Variable[];

  constructor(
    backbone: Backbone,
    head: Head,
    private readonly options: SegmentationOptions,
    private readonly parts: SegmentationTaskParts,
  ) {
    this.model = new SegmentationModel(backbone, head);
    this.confusion = new ConfusionMatrix(parts.numClasses);
    this.trainConfusion = new ConfusionMatrix(parts.numClasses);
    if (options.freezeBackbone) backbone.freeze();
    // Only the parameters the backbone itself trains are thawed later (none under freezeBackbone).
    this.thawable = backbone.namedParameters().flatMap(([, v]) => (v.trainable ? [v] : []));
  }

  private backboneFrozen(epoch: number): boolean {
    return this.options.freezeBackbone || epoch < this.options.freezeBackboneEpochs;
  }

  startEpoch(epoch: number): void {
    const frozen = this.backboneFrozen(epoch);
    for (const v of this.thawable) v.trainable = !frozen;
  }

  private forward(batch: Batch): { logits: tf.Tensor4D; mask: tf.Tensor3D } {
    const { image, mask } = batch;
    if (!image || !mask) {
      throw new BtError('RUNTIME', `task "segmentation" needs batches with \`image\` and \`mask\`; got keys: ${Object.keys(batch).join(', ') || 'none'}.`, {
        hint: 'Use a datamodule in segmentation mode (e.g. `data: { use: voc, mode: segmentation }`).',
        exitCode: 2,
      });
    }
    const logits = this.model.call(image as tf.Tensor4D);
    const classes = logits.shape[3];
    if (classes !== this.parts.numClasses) {
      throw new ConfigError('CONFIG_INVALID', `The head produces ${classes} classes but the task expects ${this.parts.numClasses}.`, {
        hint: 'Give the head and the task the same number of classes (the datamodule\'s, e.g. 21 for VOC).',
      });
    }
    return { logits, mask: mask as tf.Tensor3D };
  }

  private loss(logits: tf.Tensor4D, mask: tf.Tensor3D): { loss: tf.Scalar; logs: Record<string, tf.Scalar> } {
    const logs: Record<string, tf.Scalar> = {};
    let total: tf.Scalar | undefined;
    for (const entry of this.options.losses) {
      const value = segmentationLosses[entry.use as SegmentationLossName](logits, mask, { ignoreIndex: this.parts.ignoreIndex, gamma: entry.gamma });
      if (this.options.losses.length > 1) logs[`loss_${entry.use}`] = value;
      const weighted = tf.mul(value, entry.weight) as tf.Scalar;
      total = total ? (tf.add(total, weighted) as tf.Scalar) : weighted;
    }
    // The trainer logs the total as `loss` itself; `logs` carries the parts of a combination.
    return { loss: total!, logs };
  }

  trainingStep(batch: Batch, ctx: StepContext): StepOutput {
    // A frozen backbone also keeps its normalisation statistics: eval mode even while training.
    if (this.backboneFrozen(ctx.epoch)) this.model.backbone.eval();
    const { logits, mask } = this.forward(batch);
    const { loss, logs } = this.loss(logits, mask);
    if (this.options.trainMetrics) this.count(this.trainConfusion, logits, mask);
    return { loss, logs, outputs: { logits } };
  }

  /** Adds the batch's arg-max predictions to a confusion matrix; returns them. */
  private count(confusion: ConfusionMatrix, logits: tf.Tensor4D, mask: tf.Tensor3D): tf.Tensor {
    const predicted = tf.argMax(logits, -1);
    const truth = mask.dtype === 'int32' ? mask : tf.cast(mask, 'int32');
    confusion.add(truth.dataSync(), predicted.dataSync());
    return predicted;
  }

  private evalStep(batch: Batch): StepOutput {
    const { logits, mask } = this.forward(batch);
    const { loss, logs } = this.loss(logits, mask);
    const prediction = this.count(this.confusion, logits, mask);
    return { loss, logs, outputs: { logits, prediction } };
  }

  validationStep(batch: Batch): StepOutput {
    return this.evalStep(batch);
  }

  testStep(batch: Batch): StepOutput {
    return this.evalStep(batch);
  }

  /** The confusion matrix of the epoch so far (rows: ground truth). */
  confusionMatrix(): number[][] {
    return this.confusion.matrix();
  }

  epochMetrics(stage: 'train' | 'val' | 'test'): Record<string, number> {
    if (stage === 'train') {
      const { accuracy, mIoU } = this.trainConfusion.metrics();
      this.trainConfusion.reset();
      return accuracy === undefined ? {} : { accuracy, mIoU };
    }
    const metrics = this.confusion.metrics(this.parts.classNames);
    this.confusion.reset();
    return metrics;
  }
}
