import { definePlugin, Rng, Stage, tf, type BtConfig } from '@bt-platform/sdk';
import { runTinyFit } from '@bt-platform/sdk/testing';
import tinyCnnPlugin, { TinyCnn } from '../src/index.js';

/** Records each training step's loss and the live tensor count at the end of the step. */
function stepProbe() {
  const steps: Array<{ epoch: number; loss: number; numTensors: number }> = [];
  const plugin = definePlugin({
    name: 'step-probe',
    apply(hooks) {
      hooks.trainBatchEnd.tapPromise({ name: 'step-probe', stage: Stage.logging }, async (event) => {
        steps.push({ epoch: event.epoch, loss: event.loss, numTensors: tf.memory().numTensors });
      });
    },
  });
  return { steps, plugin };
}

function epochMeans(steps: Array<{ epoch: number; loss: number }>): number[] {
  const epochs = [...new Set(steps.map((s) => s.epoch))];
  return epochs.map((e) => {
    const losses = steps.filter((s) => s.epoch === e).map((s) => s.loss);
    return losses.reduce((a, b) => a + b, 0) / losses.length;
  });
}

const backbone = { use: 'tiny-cnn', featureDim: 16, stride: 4, width: 8 };

describe('tiny-cnn backbone', () => {
  test('honours the backbone contract: kind, featureDim, stride, feature map, pooled and intermediates', () => {
    const model = new TinyCnn({ featureDim: 24, stride: 8, width: 8 }, new Rng(1));
    expect([model.kind, model.featureDim, model.stride]).toEqual(['cnn', 24, 8]);
    const before = tf.memory().numTensors;
    const images = tf.randomNormal([2, 32, 32, 3]) as tf.Tensor4D;
    const features = model.call(images);
    expect(features.featureMap.shape).toEqual([2, 4, 4, 24]);
    expect(features.pooled.shape).toEqual([2, 24]);
    expect(features.intermediates?.map((t) => t.shape)).toEqual([
      [2, 16, 16, 8],
      [2, 8, 8, 16],
    ]);
    expect(features.tokens).toBeUndefined();
    tf.dispose([images, features.featureMap, features.pooled, ...(features.intermediates ?? [])]);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  test('a side that is not a multiple of the stride gives ceil(side / stride) cells', () => {
    const model = new TinyCnn({ featureDim: 8, stride: 4, width: 4 }, new Rng(2));
    const features = tf.tidy(() => model.call(tf.zeros([1, 18, 13, 3]) as tf.Tensor4D).featureMap.shape);
    expect(features).toEqual([1, 5, 4, 8]);
    model.dispose();
  });

  test('has PyTorch-style parameter names and a state dict that round-trips', () => {
    const a = new TinyCnn({ featureDim: 8, stride: 4, width: 4 }, new Rng(3));
    const b = new TinyCnn({ featureDim: 8, stride: 4, width: 4 }, new Rng(4));
    expect(a.stateKeys()).toEqual([
      'stages.0.conv.weight',
      'stages.0.bn.weight',
      'stages.0.bn.bias',
      'stages.0.bn.running_mean',
      'stages.0.bn.running_var',
      'stages.0.bn.num_batches_tracked',
      'stages.1.conv.weight',
      'stages.1.bn.weight',
      'stages.1.bn.bias',
      'stages.1.bn.running_mean',
      'stages.1.bn.running_var',
      'stages.1.bn.num_batches_tracked',
    ]);
    expect(a.stateDict()['stages.1.conv.weight'].shape).toEqual([8, 4, 3, 3]);
    b.loadStateDict(a.stateDict());
    const same = tf.tidy(() => {
      const x = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
      a.eval();
      b.eval();
      return tf.max(tf.abs(tf.sub(a.call(x).pooled, b.call(x).pooled))).dataSync()[0];
    });
    expect(same).toBe(0);
    a.dispose();
    b.dispose();
  });

  test('trains with Barlow Twins on toy images: finite, decreasing loss and a flat tensor count', async () => {
    const probe = stepProbe();
    const config: BtConfig = {
      data: { use: 'toy-images', mode: 'barlow-twins', samples: 24, valSamples: 8, imageSize: 8, batchSize: 8 },
      model: { backbone },
      task: { use: 'barlow-twins', projectorDim: 16, projectorLayers: 2 },
      optimizer: { use: 'adamw', lr: 1e-2 },
      trainer: { maxEpochs: 3 },
    };
    const result = await runTinyFit({ plugins: [tinyCnnPlugin, probe.plugin], config });
    expect(result.status).toBe('completed');
    expect(probe.steps).toHaveLength(9);
    expect(probe.steps.every((s) => Number.isFinite(s.loss))).toBe(true);
    const means = epochMeans(probe.steps);
    expect(means.at(-1)!).toBeLessThan(means[0]);
    // The first step creates the optimizer's moments; from then on every step leaves the count unchanged.
    expect(new Set(probe.steps.slice(1).map((s) => s.numTensors)).size).toBe(1);
    expect(Number.isFinite(result.metrics['val/loss'])).toBe(true);
  });

  test('feeds a segmentation head: setr-naive on tiny-cnn learns toy masks', async () => {
    const probe = stepProbe();
    const config: BtConfig = {
      data: { use: 'toy-images', mode: 'segmentation', samples: 24, valSamples: 8, imageSize: 8, batchSize: 8 },
      model: { backbone, head: { use: 'setr-naive' } },
      task: { use: 'segmentation' },
      optimizer: { use: 'adamw', lr: 1e-2 },
      trainer: { maxEpochs: 3 },
    };
    const result = await runTinyFit({ plugins: [tinyCnnPlugin, probe.plugin], config });
    expect(result.status).toBe('completed');
    const means = epochMeans(probe.steps);
    expect(means.at(-1)!).toBeLessThan(means[0]);
    expect(new Set(probe.steps.slice(1).map((s) => s.numTensors)).size).toBe(1);
    expect(result.metrics['val/mIoU']).toBeGreaterThan(0);
  });

  test('rejects a stride that is not a power of two, naming the option', async () => {
    await expect(runTinyFit({ plugins: [tinyCnnPlugin], config: { data: { use: 'toy-images', mode: 'barlow-twins' }, task: { use: 'barlow-twins' }, model: { backbone: { ...backbone, stride: 3 } } } })).rejects.toThrow(
      /model\.backbone\.stride/,
    );
  });
});
