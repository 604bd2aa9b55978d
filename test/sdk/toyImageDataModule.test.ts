import { Rng, tf, type Batch, type BatchStream } from '@bt-platform/sdk';
import { runTinyFit, ToyImageDataModule, toyImageOptions } from '@bt-platform/sdk/testing';

async function collect(stream: BatchStream): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const batch of stream) out.push(batch);
  return out;
}

function values(batches: Batch[]): number[][] {
  return batches.map((b) => Object.keys(b).sort().flatMap((k) => Array.from(b[k].dataSync())));
}

const data = (options: Record<string, unknown>, seed = 1) => new ToyImageDataModule(toyImageOptions.parse(options), new Rng(seed));

describe('toy-images datamodule', () => {
  test('segmentation batches: NHWC float images and int32 masks of a background and one coloured square each', async () => {
    const dm = data({ samples: 20, valSamples: 5, imageSize: 12, batchSize: 8, numClasses: 4 });
    const train = await collect(dm.trainBatches(0));
    expect(train).toHaveLength(2);
    const [{ image, mask }] = train;
    expect([image.shape, image.dtype, mask.shape, mask.dtype]).toEqual([[8, 12, 12, 3], 'float32', [8, 12, 12], 'int32']);
    const labels = mask.arraySync() as number[][][];
    for (const sample of labels) {
      const classes = [...new Set(sample.flat())].sort();
      expect(classes).toHaveLength(2);
      expect(classes[0]).toBe(0);
      expect(classes[1]).toBeGreaterThan(0);
      expect(classes[1]).toBeLessThan(4);
    }
    expect([dm.numClasses, dm.classNames, dm.palette.length, dm.imageSize]).toEqual([4, ['background', 'red', 'green', 'blue'], 4, 12]);
    // Validation keeps its incomplete last batch.
    expect((await collect(dm.valBatches())).map((b) => b.image.shape[0])).toEqual([5]);
    tf.dispose(train.flatMap((b) => Object.values(b)));
  });

  test('barlow-twins batches: two different views of the same images', async () => {
    const dm = data({ mode: 'barlow-twins', samples: 8, batchSize: 4 });
    const [first] = await collect(dm.trainBatches(0));
    expect(Object.keys(first).sort()).toEqual(['view1', 'view2']);
    expect(first.view1.shape).toEqual([4, 16, 16, 3]);
    const difference = tf.tidy(() => tf.mean(tf.abs(tf.sub(first.view1, first.view2))).dataSync()[0]);
    expect(difference).toBeGreaterThan(0.05);
    tf.dispose(Object.values(first));
  });

  test('batches depend only on the seed, the epoch and the batch index (a resumed epoch sees the same ones)', async () => {
    const options = { mode: 'barlow-twins', samples: 24, batchSize: 8 };
    const whole = await collect(data(options).trainBatches(1));
    const resumed = await collect(data(options).trainBatches(1, 1));
    const otherEpoch = await collect(data(options).trainBatches(2));
    const otherSeed = await collect(data(options, 2).trainBatches(1));
    expect(values(resumed)).toEqual(values(whole.slice(1)));
    expect(values(otherEpoch)).not.toEqual(values(whole));
    expect(values(otherSeed)).not.toEqual(values(whole));
    tf.dispose([...whole, ...resumed, ...otherEpoch, ...otherSeed].flatMap((b) => Object.values(b)));
  });

  test('too few samples for one training batch is a config error that says what to change', () => {
    expect(() => data({ samples: 4, batchSize: 8 })).toThrow(/4 training samples in batches of 8 make no full training batch/);
    expect(() => data({ mode: 'barlow-twins', samples: 4, batchSize: 1 })).toThrow(/batch norm needs 2/);
  });

  test('is registered by the toy plugin: the segmentation task trains on it with a built-in backbone and head', async () => {
    const result = await runTinyFit({
      config: {
        data: { use: 'toy-images', samples: 8, valSamples: 4, imageSize: 8, batchSize: 4 },
        model: { backbone: { use: 'resnet18', baseWidth: 4 }, head: { use: 'setr-naive' } },
        task: { use: 'segmentation' },
        optimizer: { use: 'adamw', lr: 1e-2 },
        trainer: { maxEpochs: 1 },
      },
    });
    expect(result.status).toBe('completed');
    expect(Number.isFinite(result.metrics['val/loss'])).toBe(true);
  });
});
