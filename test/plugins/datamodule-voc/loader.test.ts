import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { synthesizeVoc } from '@bt-platform/plugin-datamodule-voc';
import { collect, makeDataModule, sameArray, tempDir, type CollectedBatch } from './vocTestKit.js';

let root: string;

beforeAll(async () => {
  await tf.setBackend('cpu');
  root = tempDir();
  await synthesizeVoc(root, { images: 14, seed: 3, minSize: 24, maxSize: 40 });
});

const base = { imageSize: 16, batchSize: 2, prefetch: 2 };

function sameBatches(a: CollectedBatch[], b: CollectedBatch[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((batch, i) => Object.keys(batch).every((key) => sameArray(batch[key].data, b[i][key].data)));
}

describe('loader', () => {
  it('yields Barlow Twins view pairs as NHWC float32, dropping the incomplete last batch', async () => {
    const { dm, summary, messages } = makeDataModule({ ...base, root, workers: 0 });
    await dm.setup('fit');
    expect(dm.samples('train')).toHaveLength(7);
    const stream = dm.trainBatches(0);
    expect(stream.length).toBe(3);
    const batches = await collect(stream);
    expect(batches).toHaveLength(3);
    expect(Object.keys(batches[0]).sort()).toEqual(['view1', 'view2']);
    expect(batches[0].view1.shape).toEqual([2, 16, 16, 3]);
    expect(batches[0].view1.dtype).toBe('float32');
    expect(sameArray(batches[0].view1.data, batches[0].view2.data)).toBe(false);
    const val = await collect(dm.valBatches());
    expect(val.map((b) => b.view1.shape[0])).toEqual([2, 2, 2, 1]);
    await dm.teardown();
    // The share of the training loop spent waiting for data goes to the run summary.
    const fraction = summary['data/train_wait_fraction'] as number;
    expect(fraction).toBeGreaterThan(0);
    expect(fraction).toBeLessThanOrEqual(1);
    expect(messages.info.join('\n')).toMatch(/training waited for data [\d.]+ % of the time/);
  });

  it('yields image and int32 mask batches in segmentation mode, with valBatchSize and limit', async () => {
    const { dm } = makeDataModule({ ...base, root, workers: 0, mode: 'segmentation', valBatchSize: 3, limit: 5, dropLast: false });
    await dm.setup('fit');
    const train = await collect(dm.trainBatches(0));
    expect(train.map((b) => b.image.shape[0])).toEqual([2, 2, 1]);
    expect(train[0].mask.shape).toEqual([2, 16, 16]);
    expect(train[0].mask.dtype).toBe('int32');
    const values = new Set(train.flatMap((b) => Array.from(b.mask.data)));
    for (const v of values) expect(v === 255 || (v >= 0 && v <= 20)).toBe(true);
    expect(values.has(255)).toBe(true);
    const val = await collect(dm.valBatches());
    expect(val.map((b) => b.image.shape[0])).toEqual([3, 2]);
    await dm.teardown();
  });

  it('gives the same batches for the same seed, whatever the worker count, and other batches for another seed or epoch', async () => {
    const run = async (workers: number, seed: number, epoch: number) => {
      const { dm } = makeDataModule({ ...base, root, workers }, seed);
      await dm.setup('fit');
      const batches = await collect(dm.trainBatches(epoch));
      await dm.teardown();
      return batches;
    };
    const reference = await run(0, 7, 0);
    expect(sameBatches(reference, await run(0, 7, 0))).toBe(true);
    expect(sameBatches(reference, await run(2, 7, 0))).toBe(true);
    expect(sameBatches(reference, await run(0, 8, 0))).toBe(false);
    expect(sameBatches(reference, await run(0, 7, 1))).toBe(false);
  });

  it('restarts an epoch mid-way with exactly the batches an uninterrupted run yields from there', async () => {
    for (const mode of ['barlow-twins', 'segmentation']) {
      const { dm } = makeDataModule({ ...base, root, workers: 0, mode }, 5);
      await dm.setup('fit');
      const full = await collect(dm.trainBatches(2));
      const resumed = await collect(dm.trainBatches(2, 1));
      expect(resumed).toHaveLength(full.length - 1);
      expect(sameBatches(resumed, full.slice(1))).toBe(true);
      await dm.teardown();
    }
  });

  it('creates tensors only for the batches handed out: consuming, breaking off and closing leak nothing', async () => {
    const { dm } = makeDataModule({ ...base, root, workers: 1, prefetch: 3 });
    await dm.setup('fit');
    const before = tf.memory().numTensors;
    for await (const batch of dm.trainBatches(0)) {
      expect(tf.memory().numTensors).toBe(before + 2);
      tf.dispose(Object.values(batch));
    }
    expect(tf.memory().numTensors).toBe(before);

    for await (const batch of dm.trainBatches(1)) {
      tf.dispose(Object.values(batch));
      break;
    }
    const stream = dm.trainBatches(2);
    const iterator = stream[Symbol.asyncIterator]();
    const first = await iterator.next();
    tf.dispose(Object.values(first.value));
    await stream.close!();
    await stream.close!();
    expect((await iterator.next()).done).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
    await dm.teardown();
    await dm.teardown();
  });

  it('never keeps the process alive: a script that stops mid-epoch without closing anything exits', () => {
    const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'exitWithoutTeardown.ts');
    const child = spawnSync(process.execPath, ['--import', 'tsx', script, root], { encoding: 'utf8', timeout: 60_000 });
    expect(child.stderr).not.toMatch(/Error/);
    expect(child.stdout).toContain('batch view1,view2');
    expect(child.signal).toBeNull();
    expect(child.status).toBe(0);
  });
});
