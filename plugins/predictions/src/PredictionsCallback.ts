import * as tf from '@tensorflow/tfjs';
import { BtError, Slots, Stage, type Batch, type Callback, type DataModule, type HookView, type NamedTensors, type RunContext } from '@bt-platform/sdk';
import { DrawSchedule, imageRasters } from '@bt-platform/sdk/draw';
import { LabelPainter } from './LabelPainter.js';
import { PredictionsFigure, type PredictionRow } from './PredictionsFigure.js';

export type PredictionStage = 'train' | 'val' | 'test';

export interface PredictionsOptions {
  images: number;
  everyNEpochs: number;
  stages: PredictionStage[];
  imageKey: string;
  maskKey: string;
  outputKey: string;
  minPanelSize: number;
}

const NAME = 'predictions';

/**
 * Draws the first images of each stage's first batch next to their ground-truth and predicted
 * segmentation masks, in the datamodule's palette with a legend of the classes present.
 */
export class PredictionsCallback implements Callback {
  private datamodule: DataModule | undefined;
  private readonly schedule: DrawSchedule;
  /** The labels behind the last figure of each stage (for checks). */
  readonly latest: Partial<Record<PredictionStage, { path: string; rows: PredictionRow[] }>> = {};

  constructor(
    private readonly options: PredictionsOptions,
    private readonly ctx: RunContext,
  ) {
    this.schedule = new DrawSchedule(options.everyNEpochs);
  }

  apply(hooks: HookView): void {
    const tap = { name: NAME, stage: Stage.visualisation };
    this.schedule.apply(hooks, NAME);
    const wants = (stage: PredictionStage, epoch: number, batchIdx: number) =>
      this.options.stages.includes(stage) && batchIdx === 0 && this.schedule.due(epoch);
    hooks.setup.tapPromise(tap, async (event) => {
      this.datamodule = event.datamodule;
    });
    hooks.trainBatchEnd.tapPromise(tap, async (event) => {
      if (wants('train', event.epoch, event.batchIdx)) await this.draw('train', event.epoch, event.batch, event.outputs);
    });
    hooks.validationBatchEnd.tapPromise(tap, async (event) => {
      if (wants(event.stage, event.epoch, event.batchIdx)) await this.draw(event.stage, event.epoch, event.batch, event.outputs);
    });
    hooks.testBatchEnd.tapPromise(tap, async (event) => {
      if (wants('test', 0, event.batchIdx)) await this.draw('test', event.epoch, event.batch, event.outputs);
    });
  }

  /** Reads what it needs from the batch synchronously (its tensors die after the hook), then draws. */
  async draw(stage: PredictionStage, epoch: number, batch: Batch, outputs: NamedTensors): Promise<void> {
    const { imageKey, maskKey, outputKey } = this.options;
    const image = batch[imageKey];
    const mask = batch[maskKey];
    const logits = outputs[outputKey];
    if (!image || !mask || !logits || image.rank !== 4 || logits.rank !== 4) {
      throw new BtError('RUNTIME', `predictions: the ${stage} batch needs "${imageKey}" [B,H,W,3] and "${maskKey}" [B,H,W], and the task's outputs "${outputKey}" [B,H,W,C] (batch: ${Object.keys(batch).join(', ')}; outputs: ${Object.keys(outputs).join(', ') || 'none'}).`, {
        hint: 'Use this callback with the segmentation task, or set imageKey / maskKey / outputKey.',
      });
    }
    this.datamodule ??= await this.ctx.get(Slots.datamodule);
    const [, height, width] = image.shape;
    const n = Math.min(this.options.images, image.shape[0]);
    const rasters = imageRasters(image, n, this.datamodule.normalization);
    const { truth, prediction } = tf.tidy(() => {
      let scores = logits.slice([0, 0, 0, 0], [n, -1, -1, -1]) as tf.Tensor4D;
      if (scores.shape[1] !== height || scores.shape[2] !== width) scores = tf.image.resizeBilinear(scores, [height, width]);
      return {
        truth: mask.slice([0, 0, 0], [n, height, width]).reshape([n, height * width]).arraySync() as number[][],
        prediction: scores.argMax(-1).reshape([n, height * width]).arraySync() as number[][],
      };
    });
    const rows = rasters.map((raster, i) => ({ image: raster, truth: truth[i], prediction: prediction[i] }));
    const painter = new LabelPainter(this.datamodule, logits.shape[logits.rank - 1]);
    const key = `predictions/${stage}`;
    const path = this.ctx.mediaPath(key, 'png');
    await new PredictionsFigure(painter, this.options.minPanelSize).draw(rows, `${stage}, epoch ${epoch}`, path);
    this.latest[stage] = { path, rows };
    await this.ctx.logMedia({ key, path, caption: `${stage} predictions, epoch ${epoch}: image | ground truth | prediction` });
  }
}
