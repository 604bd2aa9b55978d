import * as tf from '@tensorflow/tfjs';
import {
  BtError,
  ConfigError,
  Slots,
  Stage,
  type Batch,
  type Callback,
  type DataModule,
  type ForwardEvent,
  type HookView,
  type Module,
  type RunContext,
  type Task,
} from '@bt-platform/sdk';
import { AttentionFigure, type AttentionSample } from './AttentionFigure.js';
import { ColorMap, DrawSchedule, imageRasters } from '@bt-platform/sdk/draw';
import { dinoThreshold } from './dinoThreshold.js';

export interface AttentionMapsOptions {
  images: number;
  threshold: number;
  everyNEpochs: number;
  /** Block whose attention is drawn; negative counts from the last. */
  block: number;
  query: 'cls' | 'patches';
  colormap: string;
  minPanelSize: number;
}

const NAME = 'attention-maps';
const PROBS = /^(?:(.*)\.)?blocks\.(\d+)\.attn\.probs$/;

/** What one captured forward pass holds: query → patch attention [n, heads, patches], and the images once paired. */
interface Capture {
  attention: tf.Tensor3D;
  images?: tf.Tensor4D;
}

/**
 * DINO-style self-attention maps of a ViT: the last block's attention from the CLS token (or, with
 * `query: patches`, the mean of the patch tokens' attention) to every patch, per head, for the first `images` validation images, plus the smallest set of patches
 * holding `threshold` of each head's attention, fused in one colour per head over the image.
 *
 * It observes the attention through the forward hook of `blocks.<i>.attn.probs` during the
 * validation forward passes of due epochs only, and the images through the backbone's own forward
 * hook (its input), so it neither runs the model again nor touches model code. It taps only for
 * those passes: observed, the attention materialises its probabilities instead of running the
 * fused op, and training must not round differently because a figure is drawn.
 */
export class AttentionMapsCallback implements Callback {
  private capturing = false;
  private seenThisBatch = false;
  private readonly captures: Capture[] = [];
  private datamodule: DataModule | undefined;
  private observed: { probs: Module; backbone: Module } | undefined;
  private readonly untaps: Array<() => void> = [];
  private readonly figure: AttentionFigure;
  private readonly schedule: DrawSchedule;
  /** The numbers behind the last figures (for checks). */
  latest: Array<AttentionSample & { path: string }> = [];

  constructor(
    private readonly options: AttentionMapsOptions,
    private readonly ctx: RunContext,
  ) {
    this.figure = new AttentionFigure(new ColorMap(options.colormap), options.minPanelSize, options.threshold);
    this.schedule = new DrawSchedule(options.everyNEpochs);
  }

  apply(hooks: HookView): void {
    const tap = { name: NAME, stage: Stage.visualisation };
    this.schedule.apply(hooks, NAME);
    hooks.setup.tapPromise(tap, async (event) => {
      this.datamodule = event.datamodule;
      await this.attach(event.task ?? (await this.ctx.get(Slots.task)));
    });
    hooks.validationStart.tapPromise(tap, async (event) => {
      this.release();
      this.capturing = event.stage === 'val' && this.schedule.due(event.epoch);
      this.seenThisBatch = false;
      if (this.capturing) this.observe();
    });
    hooks.validationBatchEnd.tapPromise(tap, async (event) => {
      if (!this.capturing) return;
      this.pairWithBatch(event.batch);
      this.seenThisBatch = false;
      if (this.collected() >= this.options.images) {
        this.capturing = false;
        this.stopObserving();
      }
    });
    hooks.validationEnd.tapPromise(tap, async (event) => {
      if (event.stage !== 'val') return;
      this.capturing = false;
      this.stopObserving();
      try {
        if (this.captures.length) await this.draw(event.epoch);
      } finally {
        this.release();
      }
    });
    hooks.teardown.tapPromise(tap, async () => {
      this.stopObserving();
      this.release();
    });
  }

  /** Finds the attention module of the chosen block and the backbone holding it, to tap while capturing. */
  async attach(task: Task): Promise<void> {
    let kind: string | undefined;
    try {
      kind = (await this.ctx.get(Slots.backbone)).kind;
    } catch {
      // No backbone slot: the task built its model itself; the module search below decides.
    }
    const blocks = task.model
      .namedModules()
      .map(([name, module]) => ({ name, module, match: PROBS.exec(name) }))
      .filter((m): m is { name: string; module: Module; match: RegExpExecArray } => m.match !== null);
    if (kind !== undefined && kind !== 'vit') {
      throw new ConfigError('CONFIG_INVALID', `attention-maps draws self-attention, which the "${kind}" backbone does not have.`, {
        hint: 'Use a ViT backbone (model.backbone.use: vit) or remove attention-maps from callbacks.',
      });
    }
    if (blocks.length === 0) {
      throw new ConfigError('CONFIG_INVALID', 'attention-maps found no ViT attention in the model (no module named blocks.<i>.attn.probs).', {
        hint: 'Use a ViT backbone (model.backbone.use: vit) or remove attention-maps from callbacks.',
      });
    }
    const depth = Math.max(...blocks.map((b) => Number(b.match[2]))) + 1;
    const index = this.options.block < 0 ? depth + this.options.block : this.options.block;
    const chosen = blocks.find((b) => Number(b.match[2]) === index);
    if (!chosen) {
      throw new ConfigError('CONFIG_INVALID', `attention-maps: block ${this.options.block} does not exist; the ViT has ${depth} blocks.`, {
        hint: `Set block to a value from ${-depth} to ${depth - 1} (-1 is the last block).`,
      });
    }
    const rootPath = chosen.match[1] ?? '';
    const root = rootPath ? task.model.getModule(rootPath) : task.model;
    this.observed = { probs: chosen.module, backbone: root };
  }

  private observe(): void {
    if (!this.observed || this.untaps.length) return;
    this.untaps.push(this.observed.probs.observeForward(NAME, (event) => this.onAttention(event)));
    this.untaps.push(this.observed.backbone.observeForward(NAME, (event) => this.onBackbone(event)));
  }

  private stopObserving(): void {
    for (const untap of this.untaps.splice(0)) untap();
  }

  private collected(): number {
    return this.captures.reduce((n, c) => n + (c.images ? c.attention.shape[0] : 0), 0);
  }

  /** First forward pass of a validation batch: keep the query's row (CLS, or the patches' mean) of the images still needed. */
  private onAttention(event: ForwardEvent): void {
    if (!this.capturing || this.seenThisBatch) return;
    const probs = event.output as tf.Tensor4D;
    const need = this.options.images - this.collected();
    if (need <= 0 || probs.rank !== 4) return;
    this.seenThisBatch = true;
    const [b, heads, n] = probs.shape;
    const take = Math.min(need, b);
    const rows = this.options.query === 'cls' ? [0, 1] : [1, n - 1];
    const attention = tf.keep(tf.tidy(() => tf.mean(tf.slice(probs, [0, 0, rows[0], 1], [take, heads, rows[1], n - 1]), 2) as tf.Tensor3D));
    this.captures.push({ attention });
  }

  /** The backbone's input is the image batch the attention was computed for. */
  private onBackbone(event: ForwardEvent): void {
    const pending = this.captures[this.captures.length - 1];
    if (!this.capturing || !pending || pending.images) return;
    const images = event.inputs[0] as tf.Tensor4D | undefined;
    if (!images || images.rank !== 4) return;
    const take = pending.attention.shape[0];
    pending.images = tf.keep(tf.slice(images, [0, 0, 0, 0], [take, -1, -1, -1]));
  }

  /** If the backbone was called without its forward hook (`forward` directly), take the images from the batch. */
  private pairWithBatch(batch: Batch): void {
    const pending = this.captures[this.captures.length - 1];
    if (!pending || pending.images) return;
    const images = (batch.image ?? batch.view1) as tf.Tensor4D | undefined;
    if (!images) {
      throw new BtError('RUNTIME', `attention-maps: cannot tell which images the attention belongs to (batch: ${Object.keys(batch).join(', ')}).`, {
        hint: 'Call the backbone with `backbone.call(images)` so its forward hook fires, or name the batch images `image` or `view1`.',
      });
    }
    pending.images = tf.keep(tf.slice(images, [0, 0, 0, 0], [pending.attention.shape[0], -1, -1, -1]));
  }

  private async draw(epoch: number): Promise<void> {
    this.datamodule ??= await this.ctx.get(Slots.datamodule);
    const samples: AttentionSample[] = [];
    for (const capture of this.captures) {
      if (!capture.images) continue;
      const rasters = imageRasters(capture.images, capture.images.shape[0], this.datamodule.normalization);
      const [count, heads, patches] = capture.attention.shape;
      const values = capture.attention.dataSync() as Float32Array;
      const { height, width } = rasters[0];
      const patch = Math.sqrt((height * width) / patches);
      const gridHeight = Math.round(height / patch);
      const gridWidth = Math.round(width / patch);
      if (gridHeight * gridWidth !== patches) {
        throw new BtError('RUNTIME', `attention-maps: ${patches} patch tokens do not tile a ${height}×${width} image.`);
      }
      for (let i = 0; i < count; i++) {
        const attention = Array.from({ length: heads }, (_, h) => values.slice((i * heads + h) * patches, (i * heads + h + 1) * patches));
        samples.push({ image: rasters[i], attention, gridHeight, gridWidth, masks: attention.map((a) => dinoThreshold(a, this.options.threshold)) });
      }
    }
    this.latest = [];
    for (const [i, sample] of samples.slice(0, this.options.images).entries()) {
      const key = `attention/val_${i}`;
      const path = this.ctx.mediaPath(key, 'png');
      const query = this.options.query === 'cls' ? 'CLS' : 'patch-mean';
      await this.figure.draw(sample, `${query} self-attention, val image ${i}, epoch ${epoch}`, path);
      this.latest.push({ ...sample, path });
      await this.ctx.logMedia({ key, path, caption: `epoch ${epoch}: image, thresholded heads fused, attention per head` });
    }
  }

  private release(): void {
    for (const capture of this.captures) {
      capture.attention.dispose();
      capture.images?.dispose();
    }
    this.captures.length = 0;
  }
}
