import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  BtError,
  MODEL_PREFIX,
  readCheckpoint,
  Slots,
  tensorsWithPrefix,
  type Backbone,
  type CommandContext,
  type DataModule,
  type Head,
  type RunSession,
} from '@bt-platform/sdk';
import { collectInputs } from './collectInputs.js';
import { loadImage, type ImageTransform, type LoadedImage } from './loadImage.js';
import { MaskWriter, vocColourMap } from './MaskWriter.js';
import { resizeNearest } from './resizeNearest.js';
import { writeNpy } from './writeNpy.js';

export interface PredictOptions {
  config?: string;
  checkpoint: string;
  input: string[];
  out: string;
  overlay?: boolean;
  embed?: boolean;
  batchSize?: number;
  /** Model input side; defaults to the datamodule's `imageSize`. */
  imageSize?: number;
  set?: string[];
}

export interface ImagePrediction {
  file: string;
  width: number;
  height: number;
  /** Mask and overlay paths, relative to the output directory. */
  mask?: string;
  overlay?: string;
  /** Fraction of the image's pixels given to each predicted class, by class name. */
  areas?: Record<string, number>;
}

export interface PredictResult {
  images: ImagePrediction[];
  skipped: Array<{ file: string; reason: string }>;
  /** With `embed`: the .npy file and its [images, features] shape. */
  embeddings?: { file: string; shape: [number, number] };
  runDir: string;
}

const DEFAULT_NORMALIZATION = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

/**
 * Runs a trained model on image files: segmentation masks (palette PNGs at the original size, class
 * areas, optional overlays), or with `embed` the backbone's pooled (CLS) embedding of each image.
 */
export async function predict(options: PredictOptions, ctx: CommandContext, print: (line: string) => void = (line) => process.stdout.write(`${line}\n`)): Promise<PredictResult> {
  const files = collectInputs(options.input, ctx.cwd);
  const batchSize = options.batchSize ?? 8;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new BtError('RUNTIME', `predict: --batch-size must be a positive integer, got ${options.batchSize}.`, { hint: 'For example --batch-size 8.', exitCode: 2 });
  }
  const session = await ctx.openSession({ configFile: options.config && path.resolve(ctx.cwd, options.config), overrides: options.set, name: options.embed ? 'embed' : 'predict' });
  try {
    return await new Predictor(session, options, ctx, print).run(files, batchSize);
  } finally {
    await session.close();
  }
}

class Predictor {
  private readonly outDir: string;
  private readonly names = new Set<string>();

  constructor(
    private readonly session: RunSession,
    private readonly options: PredictOptions,
    private readonly ctx: CommandContext,
    private readonly print: (line: string) => void,
  ) {
    this.outDir = path.resolve(ctx.cwd, options.out);
  }

  async run(files: string[], batchSize: number): Promise<PredictResult> {
    const { session, options } = this;
    const model = (session.config.model ?? {}) as Record<string, unknown>;
    if (!options.embed && !model.head) {
      throw new BtError('CONFIG_INVALID', `predict: the config has no model.head, so it cannot segment (a Barlow Twins config?).`, {
        hint: 'Pass --embed to write the backbone\'s embeddings instead, or use the config of a segmentation run.',
        exitCode: 2,
      });
    }
    const datamodule = await session.get(Slots.datamodule);
    const backbone = await session.get(Slots.backbone);
    const task = await session.get(Slots.task);
    const checkpoint = path.resolve(this.ctx.cwd, options.checkpoint);
    if (options.embed) await loadBackbone(backbone, checkpoint);
    else await session.loadWeights(checkpoint);
    const head = options.embed ? undefined : await session.get(Slots.head);
    task.model.eval();
    const transform = this.transform(datamodule);
    mkdirSync(this.outDir, { recursive: true });
    const writer = new MaskWriter(datamodule.palette ?? vocColourMap(), datamodule.classNames?.[0] === 'background' ? 0 : undefined);
    const result: PredictResult = { images: [], skipped: [], runDir: session.runDir };
    const embeddings: Float32Array[] = [];
    const progress = new ProgressLine(files.length);
    for (let start = 0; start < files.length; start += batchSize) {
      const batch = await this.decode(files.slice(start, start + batchSize), transform, result);
      if (batch.length) {
        if (head) await this.segment(backbone, head, batch, transform.size, datamodule, writer, result);
        else embeddings.push(...this.embed(backbone, batch, transform.size));
        if (!head) result.images.push(...batch.map(({ file, width, height }) => ({ file, width, height })));
      }
      progress.update(Math.min(files.length, start + batchSize));
    }
    progress.done();
    if (result.images.length === 0) {
      throw new BtError('DATA_CORRUPT', `predict: none of the ${files.length} input image(s) could be read.`, { hint: 'See the warnings above for each file.' });
    }
    if (head) writeFileSync(path.join(this.outDir, 'predictions.json'), `${JSON.stringify({ checkpoint, images: result.images, skipped: result.skipped }, null, 2)}\n`);
    else result.embeddings = this.writeEmbeddings(embeddings, result, checkpoint);
    return result;
  }

  private transform(datamodule: DataModule): ImageTransform {
    const normalization = datamodule.normalization ?? DEFAULT_NORMALIZATION;
    if (!datamodule.normalization) this.ctx.log.warn('predict: the datamodule does not say how it normalised images; using ImageNet\'s mean and std.');
    const size = this.options.imageSize ?? datamodule.imageSize;
    if (!size) {
      throw new BtError('CONFIG_INVALID', 'predict: cannot tell the model\'s input size: the datamodule has no `imageSize`.', { hint: 'Pass --image-size N (the side the model was trained on).', exitCode: 2 });
    }
    return { size, mean: normalization.mean, std: normalization.std };
  }

  /** Decodes a batch's files; unreadable ones are skipped with a warning naming them. */
  private async decode(files: string[], transform: ImageTransform, result: PredictResult): Promise<LoadedImage[]> {
    const settled = await Promise.allSettled(files.map((file) => loadImage(file, transform, Boolean(this.options.overlay && !this.options.embed))));
    const images: LoadedImage[] = [];
    settled.forEach((s, i) => {
      if (s.status === 'fulfilled') return void images.push(s.value);
      const reason = s.reason instanceof Error ? s.reason.message : String(s.reason);
      this.ctx.log.warn(`predict: skipping ${files[i]}: cannot read it as an image (${reason}).`);
      result.skipped.push({ file: files[i], reason });
    });
    return images;
  }

  private async segment(backbone: Backbone, head: Head, batch: LoadedImage[], size: number, datamodule: DataModule, writer: MaskWriter, result: PredictResult): Promise<void> {
    const labels = tf.tidy(() => {
      const x = stack(batch, size);
      return tf.argMax(head.call(backbone.call(x), [size, size]), -1);
    });
    const data = labels.dataSync();
    labels.dispose();
    const classNames = datamodule.classNames;
    for (const [i, image] of batch.entries()) {
      const mask = resizeNearest(data.subarray(i * size * size, (i + 1) * size * size), size, size, image.width, image.height);
      const stem = this.uniqueStem(image.file);
      const prediction: ImagePrediction = { file: image.file, width: image.width, height: image.height, mask: `${stem}.png` };
      await writer.writeMask(path.join(this.outDir, prediction.mask!), mask, image.width, image.height);
      if (image.rgb) {
        prediction.overlay = `${stem}.overlay.png`;
        await writer.writeOverlay(path.join(this.outDir, prediction.overlay), image.rgb, mask, image.width, image.height);
      }
      prediction.areas = classAreas(mask, classNames);
      result.images.push(prediction);
      const classes = Object.entries(prediction.areas);
      const areas = classes.slice(0, 5).map(([name, f]) => `${name} ${(100 * f).toFixed(1)}%`).join(', ') + (classes.length > 5 ? `, +${classes.length - 5} more` : '');
      this.print(`${this.shown(image.file)} (${image.width}×${image.height}) → ${prediction.mask}: ${areas}`);
    }
  }

  private embed(backbone: Backbone, batch: LoadedImage[], size: number): Float32Array[] {
    const pooled = tf.tidy(() => backbone.call(stack(batch, size)).pooled);
    const [n, d] = pooled.shape;
    const data = pooled.dataSync() as Float32Array;
    pooled.dispose();
    return Array.from({ length: n }, (_, i) => data.slice(i * d, (i + 1) * d));
  }

  private writeEmbeddings(rows: Float32Array[], result: PredictResult, checkpoint: string): PredictResult['embeddings'] {
    const dim = rows[0].length;
    const data = new Float32Array(rows.length * dim);
    rows.forEach((row, i) => data.set(row, i * dim));
    const file = path.join(this.outDir, 'embeddings.npy');
    writeNpy(file, data, [rows.length, dim]);
    const files = result.images.map((image) => image.file);
    writeFileSync(path.join(this.outDir, 'embeddings.json'), `${JSON.stringify({ checkpoint, shape: [rows.length, dim], files, skipped: result.skipped }, null, 2)}\n`);
    this.print(`${rows.length} embedding(s) of ${dim} features → ${this.shown(file)} (rows in the order of embeddings.json's files)`);
    return { file, shape: [rows.length, dim] };
  }

  /** A path as the user would type it: relative below the working directory, absolute elsewhere. */
  private shown(file: string): string {
    const relative = path.relative(this.ctx.cwd, file);
    return relative.startsWith('..') ? file : relative;
  }

  /** The file's name without extension, made unique among this run's outputs. */
  private uniqueStem(file: string): string {
    const base = path.basename(file, path.extname(file));
    let stem = base;
    for (let i = 2; this.names.has(stem); i++) stem = `${base}-${i}`;
    this.names.add(stem);
    return stem;
  }
}

function stack(batch: LoadedImage[], size: number): tf.Tensor4D {
  const data = new Float32Array(batch.length * size * size * 3);
  batch.forEach((image, i) => data.set(image.input, i * image.input.length));
  return tf.tensor4d(data, [batch.length, size, size, 3]);
}

/** `--embed` needs only the backbone: Barlow Twins and segmentation checkpoints both hold one. */
async function loadBackbone(backbone: Backbone, file: string): Promise<void> {
  const state = await readCheckpoint(file);
  backbone.loadStateDict(tensorsWithPrefix(state, `${MODEL_PREFIX}backbone.`), { source: `checkpoint ${file} (model.backbone.*)` });
}

function classAreas(mask: Uint8Array, classNames?: readonly string[]): Record<string, number> {
  const counts = new Map<number, number>();
  for (const k of mask) counts.set(k, (counts.get(k) ?? 0) + 1);
  return Object.fromEntries(
    [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => [classNames?.[k] ?? String(k), n / mask.length]),
  );
}

/** One self-updating line on a terminal; silent when stderr is not one (the per-image lines show progress). */
class ProgressLine {
  private readonly started = Date.now();
  constructor(private readonly total: number) {}

  update(done: number): void {
    if (!process.stderr.isTTY) return;
    const rate = done / Math.max(1e-3, (Date.now() - this.started) / 1000);
    process.stderr.write(`\rpredict: ${done}/${this.total} images (${rate.toFixed(1)} images/s)`);
  }

  done(): void {
    if (process.stderr.isTTY) process.stderr.write('\n');
  }
}
