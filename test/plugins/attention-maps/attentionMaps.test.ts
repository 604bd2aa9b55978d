import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import attentionMaps from '@bt-platform/plugin-attention-maps';
import { Slots, type Backbone, type DataModule, type Module } from '@bt-platform/sdk';
import type { AttentionMapsCallback } from '../../../plugins/attention-maps/src/AttentionMapsCallback.js';
import { dinoThreshold } from '../../../plugins/attention-maps/src/dinoThreshold.js';
import { ColorMap, readRaster, textWidth } from '@bt-platform/sdk/draw';
import { AttentionFigure, type AttentionSample } from '../../../plugins/attention-maps/src/AttentionFigure.js';
import { FakeRun } from '../predictions/FakeRun.js';
import { FakeVit, FakeVitModel, fakeTask } from './FakeVit.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const datamodule = { normalization: { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] } } as unknown as DataModule;

/** Head 0: 0.5 on patch 5+b, 0.3 on patch 6+b, 0.2 spread over the rest. Head 1: uniform. (Total 1 with CLS self-attention 0.) */
function cls(image: number, head: number, patches: number): number[] {
  if (head === 1) return Array.from({ length: patches }, () => 1 / patches);
  return Array.from({ length: patches }, (_, p) => (p === 5 + image ? 0.5 : p === 6 + image ? 0.3 : 0.2 / (patches - 2)));
}

/** DINO's own formulation: sort ascending, normalise, cumulative sum, keep where it exceeds 1 - threshold. */
function dinoReference(attention: number[], threshold: number): number[] {
  const order = attention.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0]);
  const total = attention.reduce((s, v) => s + v, 0);
  const keep = new Array(attention.length).fill(0);
  let cum = 0;
  for (const [v, i] of order) {
    cum += v / total;
    if (cum > 1 - threshold) keep[i] = 1;
  }
  return keep;
}

async function validate(run: FakeRun, model: FakeVitModel, epoch: number, batches: tf.Tensor4D[]) {
  await run.hooks.validationStart.promise({ stage: 'val', epoch, globalStep: 0, batches: batches.length });
  for (const [batchIdx, images] of batches.entries()) {
    tf.tidy(() => {
      model.call(images);
      model.call(images); // a second view: must not be captured twice
    });
    await run.hooks.validationBatchEnd.promise({ stage: 'val', epoch, batchIdx, globalStep: 0, loss: 0, logs: {}, batch: { image: images }, outputs: {} });
  }
  await run.hooks.validationEnd.promise({ stage: 'val', epoch, globalStep: 0, metrics: {} });
}

describe('dinoThreshold', () => {
  it('keeps the smallest set of patches holding the threshold mass', () => {
    expect([...dinoThreshold([0.1, 0.4, 0.2, 0.3], 0.6)]).toEqual([0, 1, 0, 1]);
    expect([...dinoThreshold([0.1, 0.4, 0.2, 0.3], 0.75)]).toEqual([0, 1, 1, 1]);
    // Unnormalised rows are measured against their own total.
    expect([...dinoThreshold([1, 4, 2, 3], 0.6)]).toEqual([0, 1, 0, 1]);
  });

  it('agrees with DINO\'s sorted cumulative-sum rule on random attention', () => {
    const rows = tf.tidy(() => tf.softmax(tf.randomNormal([20, 49], 0, 2, 'float32', 11)).arraySync() as number[][]);
    for (const row of rows) {
      for (const t of [0.3, 0.6, 0.9]) {
        const keep = dinoThreshold(row, t);
        expect([...keep]).toEqual(dinoReference(row, t));
        const kept = row.filter((_, i) => keep[i]);
        const mass = kept.reduce((s, v) => s + v, 0);
        expect(mass).toBeGreaterThanOrEqual(t - 1e-6);
        expect(mass - Math.min(...kept)).toBeLessThan(t);
      }
    }
  });
});

describe('attention-maps', () => {
  const H = 16;
  const PATCH = 4;

  async function setup(options: Record<string, unknown> = {}) {
    const vit = new FakeVit(3, 2, PATCH, cls);
    const model = new FakeVitModel(vit);
    const run = new FakeRun().provide(Slots.backbone, vit as unknown as Backbone).provide(Slots.datamodule, datamodule);
    const callback = (await run.callback(attentionMaps, 'attention-maps', { images: 3, minPanelSize: 64, ...options })) as AttentionMapsCallback;
    await run.hooks.setup.promise({ stage: 'fit', task: fakeTask(model), datamodule, runDir: run.runDir });
    return { vit, model, run, callback };
  }

  it('draws the first N validation images with each head\'s CLS attention and thresholded masks, leaving no tensor behind', async () => {
    const { vit, model, run, callback } = await setup();
    const batches = [0, 1].map((k) => tf.randomUniform([2, H, H, 3], -1, 1, 'float32', k) as tf.Tensor4D);
    const before = tf.memory().numTensors;
    await validate(run, model, 0, batches);
    expect(tf.memory().numTensors).toBe(before);
    // Only the last block's attention is tapped: built once per forward pass.
    expect(vit.built).toBe(4);

    expect(run.media.map((m) => m.key)).toEqual(['attention/val_0', 'attention/val_1', 'attention/val_2']);
    const patches = (H / PATCH) ** 2;
    callback.latest.forEach((sample, image) => {
      expect([sample.gridHeight, sample.gridWidth]).toEqual([4, 4]);
      sample.attention.forEach((values, head) => {
        const expected = cls(image % 2, head, patches);
        values.forEach((v, p) => expect(v).toBeCloseTo(expected[p], 6));
      });
      const head0 = [...sample.masks[0]].flatMap((k, p) => (k ? [p] : []));
      expect(head0).toEqual([5 + (image % 2), 6 + (image % 2)]);
      expect(sample.masks[1].reduce((s, k) => s + k, 0)).toBe(Math.ceil(0.6 * patches));
    });

    // The third image is the first of the second batch: the images match the attention.
    const third = callback.latest[2].image;
    const source = batches[1].slice([0, 0, 0, 0], [1, H, H, 3]).mul(0.5).add(0.5).mul(255).round().dataSync();
    third.data.forEach((v, i) => expect(Math.abs(v - source[i])).toBeLessThanOrEqual(1));
    const png = await readRaster(callback.latest[0].path);
    expect(png.width).toBeGreaterThan(4 * 64);
    batches.forEach((b) => b.dispose());
  });

  it('query: patches draws the mean of the patch tokens\' rows (here each patch attends to itself, so uniform), not the CLS row', async () => {
    const { model, run, callback } = await setup({ query: 'patches', images: 2 });
    const images = tf.randomUniform([2, H, H, 3], -1, 1, 'float32', 3) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    await validate(run, model, 0, [images]);
    expect(tf.memory().numTensors).toBe(before);
    const patches = (H / PATCH) ** 2;
    expect(callback.latest).toHaveLength(2);
    for (const sample of callback.latest) for (const head of sample.attention) head.forEach((v) => expect(v).toBeCloseTo(1 / patches, 6));
    expect(run.media.map((m) => m.key)).toEqual(['attention/val_0', 'attention/val_1']);
    images.dispose();
  });

  it('captures nothing on epochs that are not due, nor in training, and holds no tensors between epochs', async () => {
    const { model, run } = await setup({ everyNEpochs: 2 });
    const images = tf.zeros([2, H, H, 3]) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const counts: number[] = [];
    for (let epoch = 0; epoch < 4; epoch++) {
      tf.tidy(() => {
        model.call(images);
      });
      await validate(run, model, epoch, [images]);
      counts.push(tf.memory().numTensors);
    }
    expect(counts).toEqual([before, before, before, before]);
    expect(run.media.map((m) => m.key)).toEqual(['attention/val_0', 'attention/val_1', 'attention/val_0', 'attention/val_1']);
    images.dispose();
  });

  it('costs nothing when disabled: the attention is never built', () => {
    const vit = new FakeVit(3, 2, PATCH, cls);
    const images = tf.zeros([2, H, H, 3]) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      new FakeVitModel(vit).call(images);
    });
    expect(vit.built).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
    images.dispose();
  });

  it('is a config error on a CNN backbone', async () => {
    const run = new FakeRun().provide(Slots.backbone, { kind: 'cnn' } as unknown as Backbone).provide(Slots.datamodule, datamodule);
    await run.callback(attentionMaps, 'attention-maps', {});
    const model = new FakeVitModel(new FakeVit(1, 1, PATCH, cls));
    await expect(run.hooks.setup.promise({ stage: 'fit', task: fakeTask(model), datamodule, runDir: run.runDir })).rejects.toThrow(
      expect.objectContaining({ name: 'ConfigError', message: expect.stringMatching(/"cnn" backbone/) }),
    );
  });

  it('names the valid range of an unknown block', async () => {
    await expect(setup({ block: 7 })).rejects.toThrow(/block 7 does not exist; the ViT has 3 blocks/);
  });
});

describe('attention figure layout', () => {
  function sample(heads: number, side: number, grid: number): AttentionSample {
    const patches = grid * grid;
    return {
      image: { data: new Uint8Array(side * side * 3), width: side, height: side },
      attention: Array.from({ length: heads }, (_, h) => Float32Array.from({ length: patches }, (_, p) => (p + h) % patches)),
      gridHeight: grid,
      gridWidth: grid,
      masks: Array.from({ length: heads }, () => new Uint8Array(patches)),
    };
  }
  const title = 'CLS self-attention, val image 0, epoch 12';

  it.each([
    ['2 heads of a 16-pixel image', 2, 16, 4],
    ['12 heads (ViT-B) of a 224-pixel image', 12, 224, 14],
  ])('puts %s in one row, every text at least 12px and growing with the panels', (_, heads, side, grid) => {
    const figure = new AttentionFigure(new ColorMap('viridis'), 64, 0.6);
    const layout = figure.layout(sample(heads, side, grid), title);
    expect([layout.grid.rows, layout.grid.columns]).toEqual([1, heads + 2]);
    expect(layout.labelSize).toBeGreaterThanOrEqual(12);
    expect(layout.labelSize).toBeGreaterThanOrEqual(layout.grid.panelWidth / 16);
    expect(layout.titleSize).toBeGreaterThan(layout.labelSize);
    // Nothing has to shrink to fit: the title spans less than the figure, each label less than its panel.
    expect(textWidth(title, layout.titleSize) + 2 * layout.grid.left).toBeLessThanOrEqual(layout.width);
    expect(textWidth('fused heads (60%)', layout.labelSize)).toBeLessThanOrEqual(layout.grid.panelWidth);
    expect(layout.grid.top).toBeGreaterThanOrEqual(layout.titleSize + layout.labelSize);
    const sizes = [...figure.compose(sample(heads, side, grid), title).svg().matchAll(/font-size="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(sizes).toHaveLength(heads + 3);
    expect(Math.min(...sizes)).toBeGreaterThanOrEqual(12);
  });

  it('draws a PNG of the layout\'s size', async () => {
    const figure = new AttentionFigure(new ColorMap('viridis'), 64, 0.6);
    const s = sample(3, 16, 4);
    const file = path.join(new FakeRun().runDir, 'attention.png');
    await figure.draw(s, title, file);
    const png = await readRaster(file);
    const layout = figure.layout(s, title);
    expect([png.width, png.height]).toEqual([layout.width, layout.height]);
  });
});

/** Counts calls of each module's forward. */
function countForwards(modules: Module[]): number[] {
  const counts = modules.map(() => 0);
  modules.forEach((m, i) => {
    const forward = m.forward.bind(m);
    m.forward = (...inputs: unknown[]) => {
      counts[i]++;
      return forward(...inputs);
    };
  });
  return counts;
}

describe('attention-maps on the platform\'s ViT', () => {
  async function tinyVit() {
    const { VisionTransformer, vitConfig, vitOptions } = await import('@bt-platform/plugin-backbone-vit');
    const { Rng } = await import('@bt-platform/sdk');
    return new VisionTransformer(vitConfig(vitOptions.parse({ variant: 'custom', imageSize: 16, patchSize: 4, embedDim: 16, depth: 2, heads: 2, mlpRatio: 2 })), new Rng(1));
  }

  it('costs nothing when disabled: no block hands out its attention, and a step leaves the tensor count unchanged', async () => {
    const vit = await tinyVit();
    const probes = countForwards(vit.namedModules().filter(([name]) => name.endsWith('attn.probs')).map(([, m]) => m));
    expect(probes).toHaveLength(2);
    const images = tf.randomNormal([2, 16, 16, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const step = () =>
      tf.tidy(() => {
        vit.call(images);
      });
    step();
    const before = tf.memory().numTensors;
    step();
    expect(tf.memory().numTensors).toBe(before);
    expect(probes).toEqual([0, 0]);
    images.dispose();
    vit.dispose();
  });

  it('reads the CLS attention of the last block, whose rows are probability distributions', async () => {
    const vit = await tinyVit();
    const model = new FakeVitModel(vit as unknown as FakeVit);
    const run = new FakeRun().provide(Slots.backbone, vit as unknown as Backbone).provide(Slots.datamodule, datamodule);
    const callback = (await run.callback(attentionMaps, 'attention-maps', { images: 2, minPanelSize: 32 })) as AttentionMapsCallback;
    await run.hooks.setup.promise({ stage: 'fit', task: fakeTask(model), datamodule, runDir: run.runDir });
    const probes = countForwards(vit.namedModules().filter(([name]) => name.endsWith('attn.probs')).map(([, m]) => m));
    const images = tf.randomNormal([2, 16, 16, 3], 0, 1, 'float32', 2) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    await validate(run, model, 0, [images]);
    expect(tf.memory().numTensors).toBe(before);
    // Only the last block's attention is materialised for the hook.
    expect(probes).toEqual([0, 2]);
    expect(callback.latest).toHaveLength(2);
    for (const sample of callback.latest) {
      expect(sample.attention).toHaveLength(2);
      expect([sample.gridHeight, sample.gridWidth]).toEqual([4, 4]);
      // CLS → patches plus CLS → CLS is 1; the patches alone hold less.
      for (const head of sample.attention) {
        const total = head.reduce((s, v) => s + v, 0);
        expect(total).toBeGreaterThan(0);
        expect(total).toBeLessThan(1);
      }
    }
    images.dispose();
    vit.dispose();
  });
});
