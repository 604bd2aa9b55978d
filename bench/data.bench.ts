/**
 * The VOC data pipeline: images/s of the Barlow Twins pipeline (two 224 px views per image) and of
 * the segmentation pipeline per worker count, the share of step time a training loop spends waiting
 * for batches when each step computes for a fixed time, and the colour jitter on typed arrays against
 * sharp. Env: BENCH_DATA_IMAGES (default 96), BENCH_DATA_WORKERS (comma list, default 0,1,2),
 * BENCH_DATA_STEP_MS (comma list of simulated step times, default 250,1000).
 */
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { Rng } from '@bt-platform/sdk';
import { synthesizeVoc, VocDataModule, vocOptions } from '@bt-platform/plugin-datamodule-voc';
import { adjustBrightness, adjustContrast, adjustHue, adjustSaturation } from '../plugins/datamodule-voc/src/pipeline/transforms.mjs';

const SIZE = 224;
const BATCH = 16;
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

function list(name: string, fallback: number[]): number[] {
  const value = process.env[name];
  return value ? value.split(',').map(Number) : fallback;
}

function dataModule(root: string, mode: 'barlow-twins' | 'segmentation', workers: number): VocDataModule {
  const options = vocOptions.parse({ root, mode, workers, imageSize: SIZE, batchSize: BATCH, prefetch: 2 });
  return new VocDataModule(options, { rng: new Rng(0), log: quiet, resolvePath: (p) => p });
}

/** Images/s over a whole epoch, after an untimed epoch that starts the workers and warms the caches. */
async function throughput(root: string, mode: 'barlow-twins' | 'segmentation', workers: number) {
  const dm = dataModule(root, mode, workers);
  await dm.setup('fit');
  let images = 0;
  let start = 0;
  for (const epoch of [0, 1]) {
    start = performance.now();
    images = 0;
    for await (const batch of dm.trainBatches(epoch)) {
      images += Object.values(batch)[0].shape[0];
      tf.dispose(Object.values(batch));
    }
  }
  const seconds = (performance.now() - start) / 1000;
  await dm.teardown();
  return { rate: images / seconds, msPerBatch: (1000 * seconds * BATCH) / images };
}

function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

/** Share of a loop's time spent waiting for the next batch when each step blocks the main thread for `stepMs`. */
async function waitFraction(root: string, workers: number, stepMs: number) {
  const dm = dataModule(root, 'barlow-twins', workers);
  await dm.setup('fit');
  let waited = 0;
  let total = 0;
  let first = true;
  const iterator = dm.trainBatches(1)[Symbol.asyncIterator]();
  for (;;) {
    const t0 = performance.now();
    const next = await iterator.next();
    const t1 = performance.now();
    if (next.done) break;
    tf.dispose(Object.values(next.value));
    busy(stepMs);
    // The first batch cannot overlap anything: leave it out, as a long run amortises it.
    if (!first) {
      waited += t1 - t0;
      total += performance.now() - t0;
    }
    first = false;
  }
  await dm.teardown();
  return waited / total;
}

/** Milliseconds per 224 px view for the colour jitter (brightness, contrast, saturation, hue): on typed arrays, and with sharp. */
async function colourJitter() {
  const { default: sharp } = await import('sharp');
  const rng = new Rng(1);
  const raw = new Uint8Array(SIZE * SIZE * 3).map(() => rng.int(256));
  const reps = 40;
  let t = performance.now();
  for (let i = 0; i < reps; i++) {
    const px = Float32Array.from(raw);
    adjustBrightness(px, 1.2);
    adjustContrast(px, 0.8);
    adjustSaturation(px, 1.1);
    adjustHue(px, 0.05);
  }
  const js = (performance.now() - t) / reps;
  t = performance.now();
  for (let i = 0; i < reps; i++) {
    const stats = await sharp(raw, { raw: { width: SIZE, height: SIZE, channels: 3 } }).stats();
    const mean = stats.channels.reduce((sum, c) => sum + c.mean, 0) / 3;
    const out = await sharp(raw, { raw: { width: SIZE, height: SIZE, channels: 3 } })
      .modulate({ brightness: 1.2, saturation: 1.1, hue: 18 })
      .linear(0.8, 0.2 * mean)
      .raw()
      .toBuffer();
    Float32Array.from(out);
  }
  const viaSharp = (performance.now() - t) / reps;
  return { js, viaSharp };
}

export default async function bench(): Promise<string> {
  await tf.setBackend('cpu');
  const images = list('BENCH_DATA_IMAGES', [96])[0];
  const workerCounts = list('BENCH_DATA_WORKERS', [0, 1, 2]);
  const stepTimes = list('BENCH_DATA_STEP_MS', [250, 1000]);
  const root = mkdtempSync(path.join(os.tmpdir(), 'bt-bench-voc-'));
  try {
    await synthesizeVoc(root, { images: images * 2, seed: 0, minSize: 375, maxSize: 500 });
    const lines = [
      '## Data pipeline (datamodule-voc)',
      '',
      `\`npm run bench\` → bench/data.bench.ts. ${images} training images of the synthetic VOC-format set (JPEG, 375–500 px a side, a third portrait), ` +
        `${SIZE} px model input, batch ${BATCH}, prefetch 2, ${os.cpus().length} cores, load average ${os.loadavg()[0].toFixed(1)} when it started. Images/s counts source images (a Barlow Twins image yields two views), timed over a whole epoch after a warm-up epoch.`,
      '',
      '| pipeline | workers | images/s | ms per batch of 16 |',
      '| --- | --- | --- | --- |',
    ];
    for (const mode of ['barlow-twins', 'segmentation'] as const) {
      for (const workers of workerCounts) {
        const { rate, msPerBatch } = await throughput(root, mode, workers);
        lines.push(`| ${mode} | ${workers} | ${rate.toFixed(1)} | ${msPerBatch.toFixed(0)} |`);
      }
    }
    lines.push(
      '',
      'Loader wait: a loop that blocks the main thread for a fixed time per step (as tfjs compute does) and measures how long `next()` takes; the fraction of the loop spent waiting (Barlow Twins, batch 16):',
      '',
      `| simulated step | ${workerCounts.map((w) => `workers ${w}`).join(' | ')} |`,
      `| --- | ${workerCounts.map(() => '---').join(' | ')} |`,
    );
    for (const stepMs of stepTimes) {
      const cells: string[] = [];
      for (const workers of workerCounts) cells.push(`${(100 * (await waitFraction(root, workers, stepMs))).toFixed(1)} %`);
      lines.push(`| ${stepMs} ms | ${cells.join(' | ')} |`);
    }
    const { js, viaSharp } = await colourJitter();
    lines.push(
      '',
      `Colour jitter of one 224 px view (brightness, contrast, saturation, hue), one thread: typed arrays ${js.toFixed(2)} ms (used), ` +
        `sharp (stats for the contrast mean, then modulate and linear) ${viaSharp.toFixed(2)} ms. The Gaussian blur runs in libvips, fused with the crop and resize.`,
    );
    return lines.join('\n') + '\n';
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
