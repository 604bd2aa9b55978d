import { writeFileSync, existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { BtError } from '@bt-platform/sdk';
import { collect, makeDataModule, paintSample, tempDir, writeVocSet } from './vocTestKit.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const grey = (id: string, width = 24, height = 20) => paintSample(id, width, height, (x) => [x < 12 ? 0 : 15, [120, 120, 120]]);

async function expectBtError(promise: Promise<unknown>, code: string, ...parts: string[]): Promise<BtError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BtError);
  const bt = error as BtError;
  expect(bt.code).toBe(code);
  for (const part of parts) expect(`${bt.message}\n${bt.hint}`).toContain(part);
  return bt;
}

describe('missing data', () => {
  it('names the missing root and how to get the data', async () => {
    const root = path.join(tempDir(), 'nowhere');
    const { dm } = makeDataModule({ root });
    await expectBtError(dm.setup('fit'), 'DATA_MISSING', root, 'npx bt-platform data synth --out', 'npx bt-platform data download voc --out');
  });

  it('names a missing split file and the splits that exist', async () => {
    const root = tempDir();
    await writeVocSet(root, [grey('a')], { train: ['a'], val: ['a'] });
    const { dm } = makeDataModule({ root, valSplit: 'nope' });
    await expectBtError(dm.setup('fit'), 'DATA_MISSING', path.join('ImageSets', 'Segmentation', 'nope.txt'), 'train, val');
  });

  it('rejects a root without the VOC layout', async () => {
    const root = tempDir();
    await expectBtError(makeDataModule({ root }).dm.setup('fit'), 'DATA_MISSING', 'JPEGImages', 'data synth');
  });

  it('synthesises the set when the root is missing and generate is set', async () => {
    const root = path.join(tempDir(), 'generated');
    const { dm, messages } = makeDataModule({ root, imageSize: 8, batchSize: 2, workers: 0, generate: { images: 4, minSize: 20, maxSize: 24 } });
    await dm.setup('fit');
    expect(existsSync(path.join(root, 'VOCdevkit/VOC2012/JPEGImages/synth_000004.jpg'))).toBe(true);
    expect(messages.info.join('\n')).toContain('generating 4 synthetic');
    expect(await collect(dm.trainBatches(0))).toHaveLength(1);
    await dm.teardown();
  });
});

describe('corrupt samples', () => {
  let root: string;
  beforeAll(async () => {
    root = tempDir();
    const truncated = grey('truncated');
    await writeVocSet(
      root,
      [
        grey('good1'),
        grey('good2'),
        grey('good3'),
        { ...grey('garbage'), imageBytes: new TextEncoder().encode('not a jpeg at all') },
        truncated,
        grey('mismatch', 24, 20),
        paintSample('badclass', 24, 20, () => [42, [10, 10, 10]]),
        grey('nomask'),
      ],
      {
        train: ['good1', 'garbage', 'good2', 'truncated', 'good3'],
        mismatch: ['good1', 'mismatch'],
        badclass: ['badclass'],
        nomask: ['nomask'],
      },
    );
    // Cut the JPEG short, as an interrupted copy would.
    const file = path.join(root, 'VOCdevkit/VOC2012/JPEGImages/truncated.jpg');
    const bytes = (await import('node:fs')).readFileSync(file);
    writeFileSync(file, bytes.subarray(0, Math.floor(bytes.length / 2)));
    // A mask of another size than its image.
    const small = paintSample('mismatch', 12, 10, () => [0, [0, 0, 0]]);
    await writeVocSet(path.join(root, 'tmp'), [small], {});
    writeFileSync(path.join(root, 'VOCdevkit/VOC2012/SegmentationClass/mismatch.png'), (await import('node:fs')).readFileSync(path.join(root, 'tmp/VOCdevkit/VOC2012/SegmentationClass/mismatch.png')));
    rmSync(path.join(root, 'VOCdevkit/VOC2012/SegmentationClass/nomask.png'));
  });

  it.each([0, 1])('skips unreadable images with a warning naming the file and counts them (workers: %i)', async (workers) => {
    const { dm, messages, summary } = makeDataModule({ root, valSplit: 'train', shuffle: false, imageSize: 8, batchSize: 5, workers });
    await dm.setup('fit');
    const batches = await collect(dm.trainBatches(0));
    expect(batches).toHaveLength(1);
    expect(batches[0].view1.shape[0]).toBe(3);
    const warnings = messages.warn.join('\n');
    expect(warnings).toContain('garbage.jpg');
    expect(warnings).toContain('truncated.jpg');
    expect(warnings).toContain('skipped 2 corrupt sample(s) in train epoch 0');
    expect(summary['data/skipped_samples']).toBe(2);
    expect(dm.skipped).toBe(2);
    await dm.teardown();
    expect(messages.warn.at(-1)).toContain('2 corrupt sample(s) were skipped');
  });

  it('counts each corrupt file once, however many epochs and splits meet it', async () => {
    const { dm, messages, summary } = makeDataModule({ root, valSplit: 'train', shuffle: false, imageSize: 8, batchSize: 5, workers: 0 });
    await dm.setup('fit');
    for (const epoch of [0, 1, 2]) {
      await collect(dm.trainBatches(epoch));
      await collect(dm.valBatches());
    }
    expect(dm.skipped).toBe(2);
    expect(summary['data/skipped_samples']).toBe(2);
    // Each stream still says what it lacked; each file is named once.
    expect(messages.warn.filter((m) => m.includes('skipped 2 corrupt sample(s) in train epoch 2'))).toHaveLength(1);
    expect(messages.warn.filter((m) => m.includes('garbage.jpg'))).toHaveLength(1);
    await dm.teardown();
    expect(messages.warn.at(-1)).toContain('2 corrupt sample(s) were skipped');
  });

  it.each([0, 1])('fails on the first corrupt image in strict mode, reporting no skipped samples (workers: %i)', async (workers) => {
    const { dm, messages, summary } = makeDataModule({ root, valSplit: 'train', shuffle: false, imageSize: 8, batchSize: 5, workers, strict: true });
    await dm.setup('fit');
    await expectBtError(collect(dm.trainBatches(0)), 'DATA_CORRUPT', 'garbage.jpg', 'strict');
    await dm.teardown();
    expect(messages.warn.filter((m) => /skipp/.test(m))).toEqual([]);
    expect(summary['data/skipped_samples']).toBeUndefined();
    expect(dm.skipped).toBe(0);
  });

  it.each([
    ['mismatch', 'mismatch.png', 'is 12×10 but its image'],
    ['badclass', 'badclass.png', 'class 42'],
    ['nomask', 'nomask.png', 'cannot decode mask'],
  ])('reports a bad mask (%s) the same way', async (split, file, reason) => {
    const lenient = makeDataModule({ root, mode: 'segmentation', trainSplit: split, valSplit: split, imageSize: 8, batchSize: 2, workers: 0, dropLast: false });
    await lenient.dm.setup('fit');
    await collect(lenient.dm.trainBatches(0));
    expect(lenient.messages.warn.join('\n')).toContain(file);
    expect(lenient.messages.warn.join('\n')).toContain(reason);
    expect(lenient.dm.skipped).toBe(1);
    await lenient.dm.teardown();

    const strict = makeDataModule({ root, mode: 'segmentation', trainSplit: split, valSplit: split, imageSize: 8, batchSize: 2, workers: 0, strict: true });
    await strict.dm.setup('fit');
    await expectBtError(collect(strict.dm.valBatches()), 'DATA_CORRUPT', file, reason);
    await strict.dm.teardown();
  });
});
