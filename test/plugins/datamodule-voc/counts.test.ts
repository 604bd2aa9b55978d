import * as tf from '@tensorflow/tfjs';
import { collect, makeDataModule, paintSample, tempDir, writeVocSet } from './vocTestKit.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const grey = (id: string) => paintSample(id, 24, 20, (x) => [x < 12 ? 0 : 15, [120, 120, 120]]);
const broken = (id: string) => ({ ...grey(id), imageBytes: new TextEncoder().encode('not a jpeg') });

describe('split counts', () => {
  it('reports the listed samples, the distinct ones skipped so far, the batch size and drop-last per split', async () => {
    const root = tempDir();
    await writeVocSet(root, [grey('a'), broken('b'), grey('c'), broken('d'), grey('v')], { train: ['a', 'b', 'c', 'd'], val: ['v'] });
    const { dm } = makeDataModule({ root, mode: 'segmentation', imageSize: 8, batchSize: 2, valBatchSize: 3, workers: 1 });
    await dm.setup('fit');
    expect(dm.counts('train')).toEqual({ listed: 4, skipped: 0, batchSize: 2, dropLast: true });
    for (const epoch of [0, 1]) await collect(dm.trainBatches(epoch));
    expect(dm.counts('train')).toEqual({ listed: 4, skipped: 2, batchSize: 2, dropLast: true });
    expect(dm.counts('val')).toEqual({ listed: 1, skipped: 0, batchSize: 3, dropLast: false });
    await dm.teardown();
  });
});
