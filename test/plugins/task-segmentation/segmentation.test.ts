import * as tf from '@tensorflow/tfjs';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, MODEL_PREFIX, Rng, Slots, writeCheckpoint, type ComponentDefinition, type DataModule, type Registrar, type Task } from '@bt-platform/sdk';
import segPlugin, { ConfusionMatrix, SegmentationTask, segmentationLosses, segmentationOptions } from '@bt-platform/plugin-task-segmentation';
import { BarlowTwinsTask, barlowTwinsOptions } from '@bt-platform/plugin-task-barlow-twins';
import { readTaskFixture, relativeError, type FixtureTensor } from '../optim/fixtures.js';
import { FakeBackbone, FakeHead, fakeContext } from '../task-barlow-twins/fakes.js';

interface Fixture {
  numClasses: number;
  batches: Array<{
    logits: FixtureTensor;
    mask: FixtureTensor;
    losses: Record<'cross-entropy' | 'dice' | 'focal' | 'jaccard', number>;
    combined: number;
    combinedGrad: FixtureTensor;
  }>;
  confusion: FixtureTensor;
  metrics: Record<string, number>;
  iouPerClass: Record<string, number>;
}

const fixture = readTaskFixture<Fixture>('segmentation.json');
const ignoreIndex = 255;

function segmentationComponent(): ComponentDefinition<SegmentationTask> {
  let found: ComponentDefinition<SegmentationTask> | undefined;
  const registrar: Registrar = {
    component(slot, definition) {
      if (slot === Slots.task && definition.name === 'segmentation') found = definition as ComponentDefinition<SegmentationTask>;
    },
  };
  segPlugin.register!(registrar, {});
  return found!;
}

const datamodule = (numClasses = 3): DataModule =>
  ({ numClasses, ignoreIndex: 255, classNames: ['background', 'square', 'disc'].slice(0, numClasses), trainBatches: () => null, valBatches: () => null }) as unknown as DataModule;

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('segmentation losses against PyTorch (void pixels included)', () => {
  const names = ['cross-entropy', 'dice', 'focal', 'jaccard'] as const;
  it.each(fixture.batches.flatMap((_, b) => names.map((n) => [n, b] as const)))('%s, batch %i', (name, b) => {
    const batch = fixture.batches[b];
    const logits = tf.tensor4d(batch.logits.data, batch.logits.shape as [number, number, number, number]);
    const mask = tf.tensor(batch.mask.data, batch.mask.shape, 'int32');
    const loss = segmentationLosses[name](logits, mask, { ignoreIndex });
    expect(relativeError([loss.dataSync()[0]], [batch.losses[name]])).toBeLessThan(1e-5);
    tf.dispose([logits, mask, loss]);
  });

  it.each(fixture.batches.map((_, b) => [b]))('weighted combination and its gradient, batch %i', (b) => {
    const batch = fixture.batches[b];
    const logits = tf.tensor4d(batch.logits.data, batch.logits.shape as [number, number, number, number]);
    const mask = tf.tensor(batch.mask.data, batch.mask.shape, 'int32');
    const combined = (x: tf.Tensor) =>
      tf.addN([
        segmentationLosses['cross-entropy'](x as tf.Tensor4D, mask, { ignoreIndex }),
        tf.mul(segmentationLosses.dice(x as tf.Tensor4D, mask, { ignoreIndex }), 0.5),
        tf.mul(segmentationLosses.focal(x as tf.Tensor4D, mask, { ignoreIndex }), 0.25),
        tf.mul(segmentationLosses.jaccard(x as tf.Tensor4D, mask, { ignoreIndex }), 0.75),
      ]);
    const { value, grad } = tf.valueAndGrad(combined)(logits);
    expect(relativeError([value.dataSync()[0]], [batch.combined])).toBeLessThan(1e-5);
    expect(relativeError(grad.dataSync(), batch.combinedGrad.data)).toBeLessThan(1e-5);
    tf.dispose([logits, mask, value, grad]);
  });
});

describe('confusion-matrix metrics against the PyTorch reference', () => {
  it('accumulates over batches, ignores void and leaves absent classes out of the means', () => {
    const cm = new ConfusionMatrix(fixture.numClasses);
    for (const batch of fixture.batches) {
      const predicted = tf.tidy(() => tf.argMax(tf.tensor(batch.logits.data, batch.logits.shape), -1).dataSync());
      cm.add(batch.mask.data, predicted);
    }
    expect(cm.matrix().flat()).toEqual(fixture.confusion.data);
    const metrics = cm.metrics(['c0', 'c1', 'c2', 'c3', 'c4']);
    for (const [key, value] of Object.entries(fixture.metrics)) expect(relativeError([metrics[key]], [value])).toBeLessThan(1e-9);
    for (const [k, value] of Object.entries(fixture.iouPerClass)) expect(metrics[`IoU/c${k}`]).toBeCloseTo(value, 12);
    expect(metrics['IoU/c4']).toBeUndefined();
  });

  it('counts a present class that is never predicted as precision 0, and returns nothing without pixels', () => {
    const cm = new ConfusionMatrix(3);
    expect(cm.metrics()).toEqual({});
    cm.add([0, 0, 1, 1, 255], [0, 0, 0, 1, 2]);
    const m = cm.metrics();
    // Class 2 never appears (void pixels are skipped): IoU over classes 0 (2/3) and 1 (1/2).
    expect(m.mIoU).toBeCloseTo((2 / 3 + 1 / 2) / 2, 12);
    expect(m.accuracy).toBeCloseTo(3 / 4, 12);
    expect(m.recall).toBeCloseTo((1 + 0.5) / 2, 12);
  });
});

describe('segmentation task', () => {
  const batch = () => {
    const rng = new Rng(3);
    const mask = Int32Array.from({ length: 2 * 8 * 8 }, (_, i) => (i % 8 === 0 ? 255 : rng.int(3)));
    return { image: tf.randomUniform([2, 8, 8, 3], 0, 1, 'float32', 4), mask: tf.tensor3d(mask, [2, 8, 8], 'int32') };
  };

  it('names the model backbone.…/head.…, logs each loss of a combination and leaves no tensors behind', () => {
    const options = segmentationOptions.parse({ losses: ['cross-entropy', { use: 'dice', weight: 0.5 }] });
    const task: Task & { model: SegmentationTask['model'] } & Pick<SegmentationTask, 'epochMetrics'> = new SegmentationTask(new FakeBackbone(6, 4), new FakeHead(6, 3), options, { numClasses: 3, ignoreIndex });
    expect(Object.keys(task.model.stateDict())).toEqual(expect.arrayContaining(['backbone.embed.weight', 'head.classifier.weight']));
    const b = batch();
    const ctx = { epoch: 0, batchIdx: 0, globalStep: 0, training: true };
    const step = () => {
      let keys: string[] = [];
      const { value, grads } = tf.variableGrads(() => {
        const out = task.trainingStep(b, ctx);
        keys = Object.keys(out.logs!).sort();
        expect(out.outputs!.logits.shape).toEqual([2, 8, 8, 3]);
        return out.loss;
      }, Object.values(task.model.trainableVariables()));
      tf.dispose([value, ...Object.values(grads)]);
      return keys;
    };
    expect(step()).toEqual(['loss_cross-entropy', 'loss_dice']);
    const before = tf.memory().numTensors;
    step();
    tf.tidy(() => {
      task.validationStep(b, { ...ctx, training: false });
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(Object.keys(task.epochMetrics('train')).sort()).toEqual(['accuracy', 'mIoU']);
    expect(task.epochMetrics('train')).toEqual({});
    const metrics = task.epochMetrics('val');
    expect(Object.keys(metrics)).toEqual(expect.arrayContaining(['accuracy', 'mIoU', 'f1', 'f1Weighted', 'IoU/0']));
    expect(metrics.mIoU).toBeGreaterThanOrEqual(0);
    expect(task.epochMetrics('val')).toEqual({});
    tf.dispose(Object.values(b));
    task.model.dispose();
  });

  it('can leave training metrics out', () => {
    const task: Task & { model: SegmentationTask['model'] } & Pick<SegmentationTask, 'epochMetrics'> = new SegmentationTask(
      new FakeBackbone(6, 4), new FakeHead(6, 3), segmentationOptions.parse({ trainMetrics: false }), { numClasses: 3, ignoreIndex });
    const b = batch();
    tf.tidy(() => task.trainingStep(b, { epoch: 0, batchIdx: 0, globalStep: 0, training: true }).loss);
    expect(task.epochMetrics('train')).toEqual({});
    tf.dispose(Object.values(b));
    task.model.dispose();
  });

  it('freezes the backbone on request', () => {
    const task: Task & { model: SegmentationTask['model'] } & Pick<SegmentationTask, 'epochMetrics'> = new SegmentationTask(new FakeBackbone(6, 4), new FakeHead(6, 3), segmentationOptions.parse({ freezeBackbone: true }), { numClasses: 3, ignoreIndex });
    expect(Object.keys(task.model.trainableVariables()).sort()).toEqual(['head.classifier.bias', 'head.classifier.weight']);
    task.model.dispose();
  });

  it('freezes the backbone for the first freezeBackboneEpochs epochs, then trains it, leaving what the backbone froze itself frozen', () => {
    const backbone = new FakeBackbone(6, 4);
    const [[kept]] = backbone.namedParameters();
    backbone.namedParameters().find(([name]) => name === kept)![1].trainable = false;
    const task = new SegmentationTask(backbone, new FakeHead(6, 3), segmentationOptions.parse({ freezeBackboneEpochs: 2 }), { numClasses: 3, ignoreIndex });
    const head = ['head.classifier.bias', 'head.classifier.weight'];
    const trainable = () => Object.keys(task.model.trainableVariables()).sort();
    const all = trainable();
    for (const [epoch, expected] of [[0, head], [1, head], [2, all], [0, head]] as const) {
      task.startEpoch(epoch);
      expect({ epoch, trainable: trainable() }).toEqual({ epoch, trainable: expected });
    }
    expect(all).not.toContain(`backbone.${kept}`);
    expect(all.length).toBeGreaterThan(head.length);
    task.model.dispose();
  });

  it('rejects a head whose class count differs from the task', () => {
    const task: Task & { model: SegmentationTask['model'] } & Pick<SegmentationTask, 'epochMetrics'> = new SegmentationTask(new FakeBackbone(6, 4), new FakeHead(6, 4), segmentationOptions.parse({}), { numClasses: 3, ignoreIndex });
    const b = batch();
    expect(() => tf.tidy(() => task.trainingStep(b, { epoch: 0, batchIdx: 0, globalStep: 0, training: true }).loss)).toThrow(/head produces 4 classes but the task expects 3/);
    tf.dispose(Object.values(b));
    task.model.dispose();
  });
});

describe('initialising the backbone from a Barlow Twins checkpoint', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bt-seg-ckpt-'));

  async function pretrainedCheckpoint(featureDim: number, file: string, include: (name: string) => boolean = () => true) {
    const bt = new BarlowTwinsTask(new FakeBackbone(featureDim, 4, 11), barlowTwinsOptions.parse({ projectorDim: 8 }), 5);
    const tensors = Object.fromEntries(
      Object.entries(bt.model.stateDict())
        .filter(([n]) => include(n))
        .map(([n, t]) => [MODEL_PREFIX + n, t]),
    );
    await writeCheckpoint(file, {
      format: 'bt-platform/1',
      trainer: { epoch: 1, batchInEpoch: 0, globalStep: 4, seed: 1, rng: [1, 2, 3, 4] },
      tensors,
      plugins: {},
      metrics: {},
    });
    const state = bt.model.backbone.stateDict();
    bt.model.dispose();
    return state;
  }

  it('loads the pre-trained backbone weights exactly and drops the projector', async () => {
    const file = path.join(dir, 'bt.safetensors');
    const pretrained = await pretrainedCheckpoint(6, file);
    const backbone = new FakeBackbone(6, 4, 99);
    const ctx = fakeContext([
      [Slots.datamodule, datamodule()],
      [Slots.backbone, backbone],
      [Slots.head, new FakeHead(6, 3)],
    ]);
    const def = segmentationComponent();
    const task = await def.create(def.options!.parse({ backboneCheckpoint: file }), ctx);
    const loaded = task.model.backbone.stateDict();
    expect(Object.keys(loaded).sort()).toEqual(Object.keys(pretrained).sort());
    for (const [name, t] of Object.entries(pretrained)) expect(Array.from(loaded[name].data)).toEqual(Array.from(t.data));
    expect(ctx.messages.join('\n')).toMatch(/4 tensors loaded, \d+ non-backbone tensors \(projector\) dropped/);
    task.model.dispose();
  });

  it('reports backbone tensors the checkpoint lacks', async () => {
    const file = path.join(dir, 'partial.safetensors');
    await pretrainedCheckpoint(6, file, (n) => n !== 'backbone.mix.bias');
    const ctx = fakeContext([
      [Slots.datamodule, datamodule()],
      [Slots.backbone, new FakeBackbone(6, 4, 99)],
      [Slots.head, new FakeHead(6, 3)],
    ]);
    const def = segmentationComponent();
    const task = await def.create(def.options!.parse({ backboneCheckpoint: file }), ctx);
    expect(ctx.messages.join('\n')).toMatch(/warn: Backbone tensors not in .*: mix\.bias/);
    task.model.dispose();
  });

  it('is a config error when the checkpoint backbone does not match or has no backbone', async () => {
    const file = path.join(dir, 'wide.safetensors');
    await pretrainedCheckpoint(10, file);
    const def = segmentationComponent();
    const ctx = fakeContext([
      [Slots.datamodule, datamodule()],
      [Slots.backbone, new FakeBackbone(6, 4, 99)],
      [Slots.head, new FakeHead(6, 3)],
    ]);
    const mismatch = await Promise.resolve(def.create(def.options!.parse({ backboneCheckpoint: file }), ctx)).catch((e: unknown) => e);
    expect(mismatch).toBeInstanceOf(ConfigError);
    expect((mismatch as ConfigError).code).toBe('WEIGHTS_MISMATCH');
    expect((mismatch as ConfigError).message).toMatch(/does not match the configured backbone: shape mismatches: embed\.weight expected \[6,48\] got \[10,48\]/);
    expect((mismatch as ConfigError).hint).toMatch(/same `model.backbone`/);

    const projectorOnly = path.join(dir, 'projector.safetensors');
    await pretrainedCheckpoint(6, projectorOnly, (n) => n.startsWith('projector.'));
    const none = await Promise.resolve(def.create(def.options!.parse({ backboneCheckpoint: projectorOnly }), ctx)).catch((e: unknown) => e);
    expect((none as ConfigError).code).toBe('CHECKPOINT_MISMATCH');
    expect((none as ConfigError).message).toMatch(/holds no backbone weights .* model\.projector\.0\.weight/);
  });

  it('needs a class count from the datamodule or the options', async () => {
    const def = segmentationComponent();
    const ctx = fakeContext([
      [Slots.datamodule, { trainBatches: () => null, valBatches: () => null }],
      [Slots.backbone, new FakeBackbone(6, 4)],
      [Slots.head, new FakeHead(6, 3)],
    ]);
    await expect(Promise.resolve(def.create(def.options!.parse({}), ctx))).rejects.toThrow(/does not know the number of classes/);
  });
});
