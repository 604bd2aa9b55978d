import { existsSync, promises as fsp } from 'node:fs';
import { availableParallelism } from 'node:os';
import { BtError, type BatchStream, type DataModule, type Log, type Rng, type SplitCounts } from '@bt-platform/sdk';
import type { SampleJob } from './pipeline/processSample.mjs';
import type { SampleError } from './pipeline/SampleError.mjs';
import { UNIFORMS_PER_SAMPLE } from './pipeline/Uniforms.mjs';
import { PrefetchStream, type BatchKey } from './PrefetchStream.js';
import { InProcessRunner, type SampleRunner } from './SampleRunner.js';
import { IMAGENET_NORMALIZATION, VOC_CLASSES, VOC_IGNORE_INDEX, VOC_NUM_CLASSES, VOC_PALETTE } from './VocClasses.js';
import { readSplit, requireVocDir, type VocSample } from './VocLayout.js';
import type { VocOptions } from './VocOptions.js';
import { synthDifference, synthesizeVoc } from './VocSynth.js';
import { WorkerPool } from './WorkerPool.js';

/** What the datamodule needs from the run context. */
export interface VocContext {
  readonly rng: Rng;
  readonly log: Log;
  resolvePath(p: string): string;
  setSummary?(key: string, value: string | number | boolean): void;
}

type Split = 'train' | 'val' | 'test';

/**
 * PASCAL VOC 2012 (or a synthetic set in its layout) as Barlow Twins view pairs or segmentation
 * image/mask pairs. Every random draw comes from the run's RNG forked by split, epoch and sample
 * index, so batches do not depend on the worker count or on where a resumed epoch restarts.
 */
export class VocDataModule implements DataModule {
  readonly numClasses = VOC_NUM_CLASSES;
  readonly classNames: readonly string[] = VOC_CLASSES;
  /** The full 256-entry VOC colour map: class ids 0–20, and 255 (void) in VOC's cream. */
  readonly palette = VOC_PALETTE;
  readonly ignoreIndex = VOC_IGNORE_INDEX;
  readonly normalization = IMAGENET_NORMALIZATION;

  private readonly root: string;
  private vocDir?: string;
  private readonly splits = new Map<Split, VocSample[]>();
  private runner?: SampleRunner;
  /** Files skipped as corrupt: one skipped in every epoch counts once. */
  private readonly skippedFiles = new Set<string>();
  private colourMaskReported = false;
  private trainWaitMs = 0;
  private trainElapsedMs = 0;

  constructor(
    readonly options: VocOptions,
    private readonly ctx: VocContext,
  ) {
    this.root = ctx.resolvePath(options.root);
  }

  get imageSize(): number {
    return this.options.imageSize;
  }

  /** The VOC2012 directory read (after setup). */
  get directory(): string | undefined {
    return this.vocDir;
  }

  /** Distinct files skipped as corrupt so far, over all streams and epochs. */
  get skipped(): number {
    return this.skippedFiles.size;
  }

  async setup(stage: 'fit' | 'validate' | 'test' = 'fit'): Promise<void> {
    if (!this.vocDir) {
      const { generate } = this.options;
      if (!existsSync(this.root) && generate) {
        this.ctx.log.info(`voc: ${this.root} does not exist; generating ${generate.images} synthetic VOC-format images there (seed ${generate.seed}).`);
        // Written beside the root and renamed into place, so an interrupted generation leaves no half set behind.
        const staging = `${this.root}.partial-${process.pid}`;
        await fsp.rm(staging, { recursive: true, force: true });
        await synthesizeVoc(staging, generate);
        await fsp.rename(staging, this.root);
      } else if (generate) {
        // Generated only when missing: a set made with other settings would be used as it is.
        const difference = synthDifference(this.root, generate);
        if (difference) {
          this.ctx.log.warn(`voc: ${this.root} was generated with other settings than data.generate: ${difference}. It is used as it is; delete it to generate the set asked for.`);
        }
      }
      this.vocDir = requireVocDir(this.root);
    }
    const needed: Split[] = stage === 'fit' ? ['train', 'val'] : stage === 'validate' ? ['val'] : ['test'];
    for (const split of needed) {
      if (this.splits.has(split)) continue;
      const name = split === 'train' ? this.options.trainSplit : split === 'val' ? this.options.valSplit : this.options.testSplit;
      this.splits.set(split, await readSplit(this.vocDir, name, this.root, this.options.limit, this.options.imageSet));
    }
  }

  /** The samples of a split (after setup). */
  samples(split: Split): readonly VocSample[] {
    const samples = this.splits.get(split);
    if (!samples) {
      const stage = split === 'train' ? 'fit' : split === 'val' ? 'validate' : 'test';
      throw new BtError('RUNTIME', `The voc datamodule's ${split} split is not loaded.`, { hint: `Call setup('${stage}') before asking for its batches.` });
    }
    return samples;
  }

  trainBatches(epoch: number, startBatch = 0): BatchStream {
    const samples = this.samples('train');
    const { batchSize, dropLast, shuffle } = this.options;
    const order = samples.map((_, i) => i);
    if (shuffle) this.ctx.rng.fork('train-order', epoch).shuffle(order);
    const batches = chunk(order, batchSize, dropLast).slice(startBatch);
    return this.stream('train', batches, (i) => this.ctx.rng.fork('train', epoch, i), `train epoch ${epoch}`);
  }

  valBatches(): BatchStream {
    return this.evalStream('val');
  }

  testBatches(): BatchStream {
    return this.evalStream('test');
  }

  counts(split: Split): SplitCounts {
    const samples = this.samples(split);
    // Barlow Twins reads no mask, so a corrupt mask skips only segmentation samples.
    const skipped = samples.filter((s) => this.skippedFiles.has(s.image) || (this.options.mode === 'segmentation' && this.skippedFiles.has(s.mask))).length;
    const batchSize = split === 'train' ? this.options.batchSize : (this.options.valBatchSize ?? this.options.batchSize);
    return { listed: samples.length, skipped, batchSize, dropLast: split === 'train' && this.options.dropLast };
  }

  async teardown(): Promise<void> {
    const runner = this.runner;
    this.runner = undefined;
    await runner?.close();
    if (this.trainElapsedMs > 0) {
      const fraction = this.trainWaitMs / this.trainElapsedMs;
      this.ctx.setSummary?.('data/train_wait_fraction', Number(fraction.toFixed(4)));
      this.ctx.log.info(`voc: training waited for data ${percent(this.trainWaitMs, this.trainElapsedMs)} of the time (${(this.trainWaitMs / 1000).toFixed(1)} s).`);
      this.trainWaitMs = 0;
      this.trainElapsedMs = 0;
    }
    if (this.skippedFiles.size > 0) this.ctx.log.warn(`voc: ${this.skippedFiles.size} corrupt sample(s) were skipped in this run.`);
  }

  private evalStream(split: 'val' | 'test'): BatchStream {
    const samples = this.samples(split);
    const order = samples.map((_, i) => i);
    const batches = chunk(order, this.options.valBatchSize ?? this.options.batchSize, false);
    return this.stream(split, batches, (i) => this.ctx.rng.fork(split, i), split);
  }

  private stream(split: Split, batches: number[][], rngOf: (i: number) => Rng, label: string): BatchStream {
    const samples = this.samples(split);
    if (!this.runner) {
      const { workers } = this.options;
      const count = workers === 'auto' ? Math.max(1, Math.min(4, availableParallelism() - 1)) : workers;
      this.runner = count > 0 ? new WorkerPool(count) : new InProcessRunner();
    }
    // Counted here rather than taken from the stream's report: in strict mode the sample that stops the run was never skipped.
    let skipped = 0;
    return new PrefetchStream({
      batches,
      runner: this.reportingColourMasks(this.runner),
      keys: this.keys(),
      prefetch: this.options.prefetch,
      job: (i) => this.job(samples[i], split === 'train', rngOf(i)),
      onSkip: (error) => {
        this.skip(error);
        skipped++;
      },
      onEnd: ({ waitMs, elapsedMs }) => {
        if (split === 'train' && elapsedMs > 0) {
          this.trainWaitMs += waitMs;
          this.trainElapsedMs += elapsedMs;
          this.ctx.log.debug(`voc: ${label}: waited ${(waitMs / 1000).toFixed(1)} s for batches (${percent(waitMs, elapsedMs)} of ${(elapsedMs / 1000).toFixed(1)} s).`);
        }
        if (skipped === 0) return;
        this.ctx.log.warn(`voc: skipped ${skipped} corrupt sample(s) in ${label}.`);
        this.ctx.setSummary?.('data/skipped_samples', this.skippedFiles.size);
      },
    });
  }

  private skip(error: SampleError): void {
    if (this.options.strict) {
      throw new BtError('DATA_CORRUPT', `Corrupt sample: ${error.file}: ${error.reason}.`, {
        hint: 'Replace or remove the file (and its line in the split file), or set data.strict: false to skip such samples with a warning.',
      });
    }
    if (this.skippedFiles.has(error.file)) return;
    this.skippedFiles.add(error.file);
    this.ctx.log.warn(`voc: skipping ${error.file}: ${error.reason}.`);
  }

  /** The runner, warning once per run when masks hold colours rather than class indices. */
  private reportingColourMasks(runner: SampleRunner): SampleRunner {
    return {
      run: async (job) => {
        const result = await runner.run(job);
        if ('maskByColour' in result && !this.colourMaskReported) {
          this.colourMaskReported = true;
          this.ctx.log.warn(
            `voc: ${job.mask} is a colour (RGB) mask, so its classes are read by matching VOC's colour map, as are those of any other colour masks in this run (no further warnings). ` +
              'Palette PNGs and 8-bit greyscale PNGs of class indices are read by index, whatever their colours.',
          );
        }
        return result;
      },
      close: () => runner.close(),
    };
  }

  private keys(): BatchKey[] {
    const s = this.options.imageSize;
    return this.options.mode === 'barlow-twins'
      ? [
          { name: 'view1', shape: [s, s, 3], dtype: 'float32' },
          { name: 'view2', shape: [s, s, 3], dtype: 'float32' },
        ]
      : [
          { name: 'image', shape: [s, s, 3], dtype: 'float32' },
          { name: 'mask', shape: [s, s], dtype: 'int32' },
        ];
  }

  private job(sample: VocSample, train: boolean, rng: Rng): SampleJob {
    const uniforms = new Float64Array(UNIFORMS_PER_SAMPLE);
    for (let k = 0; k < uniforms.length; k++) uniforms[k] = rng.next();
    return {
      mode: this.options.mode,
      train,
      image: sample.image,
      mask: this.options.mode === 'segmentation' ? sample.mask : undefined,
      size: this.options.imageSize,
      uniforms,
      barlow: this.options.augment,
      segmentation: this.options.segmentationAugment,
      mean: this.normalization.mean,
      std: this.normalization.std,
      numClasses: this.numClasses,
      ignoreIndex: this.ignoreIndex,
    };
  }
}

function percent(part: number, whole: number): string {
  return `${((100 * part) / whole).toFixed(1)} %`;
}

function chunk(indices: number[], size: number, dropLast: boolean): number[][] {
  const batches: number[][] = [];
  for (let i = 0; i < indices.length; i += size) {
    const batch = indices.slice(i, i + size);
    if (batch.length < size && dropLast) break;
    batches.push(batch);
  }
  return batches;
}
