import * as tf from '@tensorflow/tfjs';
import { BtError, Slots, Stage, type Backbone, type Batch, type Callback, type HookView, type Module, type RunContext } from '@bt-platform/sdk';
import { ColorMap, DrawSchedule } from '@bt-platform/sdk/draw';
import { EffectiveReceptiveField } from './EffectiveReceptiveField.js';
import { ErfFigure, type ErfMap, type ErfScale } from './ErfFigure.js';
import { selectLayers } from './selectLayers.js';

export interface ErfOptions {
  layers: number | string[];
  batches: number;
  imagesPerBatch?: number;
  source: 'train' | 'val';
  everyNEpochs: number;
  colormap: string;
  scale: ErfScale;
  minPanelSize: number;
}

const NAME = 'erf';

/**
 * Collects the first `batches` image batches of a due epoch (validation or training), then,
 * when that stage ends, computes the effective receptive field of each selected backbone layer
 * averaged over those images and draws them side by side.
 */
export class ErfCallback implements Callback {
  private readonly images: tf.Tensor4D[] = [];
  private collecting = false;
  private erf: EffectiveReceptiveField | undefined;
  private layers: Array<[string, Module]> = [];
  private readonly figure: ErfFigure;
  private readonly schedule: DrawSchedule;
  /** The numbers behind the last figure (for checks). */
  latest: { maps: ErfMap[]; path: string } | undefined;

  constructor(
    private readonly options: ErfOptions,
    private readonly ctx: RunContext,
  ) {
    this.figure = new ErfFigure(new ColorMap(options.colormap), options.minPanelSize, options.scale);
    this.schedule = new DrawSchedule(options.everyNEpochs);
  }

  apply(hooks: HookView): void {
    const tap = { name: NAME, stage: Stage.visualisation };
    this.schedule.apply(hooks, NAME);
    const start = async (epoch: number) => {
      this.release();
      this.collecting = epoch >= 0 && this.schedule.due(epoch);
    };
    const collect = async (batch: Batch, batchIdx: number) => {
      if (!this.collecting || batchIdx >= this.options.batches) return;
      const images = (batch.image ?? batch.view1) as tf.Tensor4D | undefined;
      if (!images || images.rank !== 4) {
        throw new BtError('RUNTIME', `erf: the batch holds no images under "image" or "view1" (batch: ${Object.keys(batch).join(', ')}).`);
      }
      const take = Math.min(images.shape[0], this.options.imagesPerBatch ?? images.shape[0]);
      this.images.push(tf.keep(tf.slice(images, [0, 0, 0, 0], [take, -1, -1, -1])));
    };
    const finish = async (epoch: number) => {
      this.collecting = false;
      try {
        if (this.images.length) await this.draw(epoch);
      } finally {
        this.release();
      }
    };
    hooks.setup.tapPromise(tap, async () => {
      const backbone: Backbone = await this.ctx.get(Slots.backbone);
      this.layers = selectLayers(backbone, this.options.layers);
      this.erf = new EffectiveReceptiveField(backbone);
      this.ctx.log.debug(`erf: layers ${this.layers.map(([n]) => n).join(', ')}`);
    });
    if (this.options.source === 'val') {
      hooks.validationStart.tapPromise(tap, async (event) => start(event.stage === 'val' ? event.epoch : -1));
      hooks.validationBatchEnd.tapPromise(tap, async (event) => collect(event.batch, event.batchIdx));
      hooks.validationEnd.tapPromise(tap, async (event) => finish(event.epoch));
    } else {
      hooks.trainEpochStart.tapPromise(tap, async (event) => start(event.epoch));
      hooks.trainBatchEnd.tapPromise(tap, async (event) => collect(event.batch, event.batchIdx));
      hooks.trainEpochEnd.tapPromise(tap, async (event) => finish(event.epoch));
    }
    hooks.teardown.tapPromise(tap, async () => this.release());
  }

  private async draw(epoch: number): Promise<void> {
    if (!this.erf) throw new BtError('RUNTIME', 'erf: the run did not call setup before the first batch.');
    const [, height, width] = this.images[0].shape;
    const count = this.images.reduce((n, b) => n + b.shape[0], 0);
    const maps: ErfMap[] = this.layers.map((layer) => {
      const total = tf.tidy(() => tf.div(tf.addN(this.images.map((batch) => this.erf!.sum(layer, batch))), count));
      const values = total.dataSync() as Float32Array;
      total.dispose();
      return { layer: layer[0], values, height, width };
    });
    const key = `erf/${this.options.source}`;
    const path = this.ctx.mediaPath(key, 'png');
    const scale = this.options.scale === 'log' ? 'each layer on a log scale, 3 decades below its peak' : 'each layer on a linear scale to its peak';
    const subtitle = `|∂ central unit / ∂ input|, mean of ${count} ${this.options.source} images, ${scale}`;
    await this.figure.draw(maps, `Effective receptive fields, epoch ${epoch}`, subtitle, path);
    this.latest = { maps, path };
    await this.ctx.logMedia({ key, path, caption: `epoch ${epoch}: |d centre unit / d input| per layer, averaged over ${count} images` });
  }

  private release(): void {
    for (const images of this.images) images.dispose();
    this.images.length = 0;
  }
}
