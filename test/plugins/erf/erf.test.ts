import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import erf from '@bt-platform/plugin-erf';
import { Module, ModuleList, Slots, type Backbone } from '@bt-platform/sdk';
import type { ErfCallback } from '../../../plugins/erf/src/ErfCallback.js';
import { readRaster } from '@bt-platform/sdk/draw';
import { selectLayers } from '../../../plugins/erf/src/selectLayers.js';
import { FakeRun } from '../predictions/FakeRun.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** One 3×3 'same' convolution, 3 → 2 channels, with the given HWIO weights. */
class Conv extends Module {
  readonly weight: tf.Variable;
  constructor(weights: number[]) {
    super();
    this.weight = this.registerParameter('weight', tf.tensor4d(weights, [3, 3, 3, 2]), 'conv2d');
  }
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.conv2d(x, this.weight as tf.Tensor4D, 1, 'same');
  }
}

class ConvNet extends Module {
  readonly kind = 'cnn' as const;
  readonly conv: Conv;
  constructor(weights: number[]) {
    super();
    this.conv = this.registerModule('conv', new Conv(weights));
  }
  forward(x: tf.Tensor4D) {
    const featureMap = this.conv.call(x);
    return { featureMap, pooled: tf.mean(featureMap, [1, 2]) };
  }
}

/** Patch tokens of a p × p patchify with all-ones weights, a CLS token first, then `depth` identity-ish blocks. */
class Tokens extends Module {
  constructor(readonly patch: number) {
    super();
  }
  forward(x: tf.Tensor4D): tf.Tensor3D {
    const [b, h, w] = x.shape;
    const p = this.patch;
    const patches = tf.reshape(tf.transpose(tf.reshape(x, [b, h / p, p, w / p, p, 3]), [0, 1, 3, 2, 4, 5]), [b, (h / p) * (w / p), p * p * 3]);
    const tokens = tf.sum(patches, -1, true);
    return tf.concat([tf.zeros([b, 1, 1]), tokens], 1) as tf.Tensor3D;
  }
}

class Square extends Module {
  forward(x: tf.Tensor3D): tf.Tensor3D {
    return tf.mul(tf.square(x), 0.01);
  }
}

class TinyVit extends Module {
  readonly kind = 'vit' as const;
  readonly patch_embed: Tokens;
  readonly blocks: ModuleList<Square>;
  constructor(patch: number, depth: number) {
    super();
    this.patch_embed = this.registerModule('patch_embed', new Tokens(patch));
    this.blocks = this.registerModule('blocks', new ModuleList(Array.from({ length: depth }, () => new Square())));
  }
  forward(x: tf.Tensor4D) {
    let tokens = this.patch_embed.call(x);
    for (const block of this.blocks.items) tokens = block.call(tokens);
    return { tokens, pooled: tf.squeeze(tf.slice(tokens, [0, 0, 0], [-1, 1, -1]), [1]) };
  }
}

async function validateWith(run: FakeRun, batches: tf.Tensor4D[], epoch = 0) {
  await run.hooks.validationStart.promise({ stage: 'val', epoch, globalStep: 0, batches: batches.length });
  for (const [batchIdx, image] of batches.entries()) {
    await run.hooks.validationBatchEnd.promise({ stage: 'val', epoch, batchIdx, globalStep: 0, loss: 0, logs: {}, batch: { image }, outputs: {} });
  }
  await run.hooks.validationEnd.promise({ stage: 'val', epoch, globalStep: 0, metrics: {} });
}

describe('erf', () => {
  it('of one convolution equals its kernel footprint: Σ over colours of |Σ over outputs of w|', async () => {
    const weights = Array.from({ length: 3 * 3 * 3 * 2 }, (_, i) => ((i * 7) % 11) - 5);
    const net = new ConvNet(weights);
    const run = new FakeRun().provide(Slots.backbone, net as unknown as Backbone);
    const callback = (await run.callback(erf, 'erf', { layers: ['conv'], batches: 2 })) as ErfCallback;
    await run.hooks.setup.promise({ stage: 'fit', task: undefined as never, datamodule: undefined as never, runDir: run.runDir });
    const batches = [0, 1, 2].map((k) => tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', k) as tf.Tensor4D);
    const before = tf.memory().numTensors;
    await validateWith(run, batches);
    expect(tf.memory().numTensors).toBe(before);

    const [map] = callback.latest!.maps;
    expect(map.layer).toBe('conv');
    for (let y = 0; y < 8; y++) {
      for (let x = 0; x < 8; x++) {
        const dy = y - 4 + 1;
        const dx = x - 4 + 1;
        let expected = 0;
        if (dy >= 0 && dy < 3 && dx >= 0 && dx < 3) {
          for (let ci = 0; ci < 3; ci++) expected += Math.abs(weights[((dy * 3 + dx) * 3 + ci) * 2] + weights[((dy * 3 + dx) * 3 + ci) * 2 + 1]);
        }
        expect(map.values[y * 8 + x]).toBeCloseTo(expected, 4);
      }
    }
    expect(run.media.map((m) => m.key)).toEqual(['erf/val']);
    const png = await readRaster(callback.latest!.path);
    expect(png.height).toBeGreaterThan(160);
    batches.forEach((b) => b.dispose());
  });

  it('puts ViT tokens back on the patch grid: the central token sees exactly its patch', async () => {
    const vit = new TinyVit(4, 5);
    const run = new FakeRun().provide(Slots.backbone, vit as unknown as Backbone);
    const callback = (await run.callback(erf, 'erf', { layers: 3, batches: 1, imagesPerBatch: 1 })) as ErfCallback;
    await run.hooks.setup.promise({ stage: 'fit', task: undefined as never, datamodule: undefined as never, runDir: run.runDir });
    const images = tf.randomUniform([2, 16, 24, 3], 0.5, 1, 'float32', 3) as tf.Tensor4D;
    await validateWith(run, [images]);
    const maps = callback.latest!.maps;
    expect(maps.map((m) => m.layer)).toEqual(['blocks.0', 'blocks.2', 'blocks.4']);
    expect(run.media[0].caption).toMatch(/averaged over 1 images/);
    // Grid 4 × 6: the central token is row 2, column 3, i.e. pixels 8..11 × 12..15.
    const inside = (y: number, x: number) => y >= 8 && y < 12 && x >= 12 && x < 16;
    for (const map of maps) {
      map.values.forEach((v, i) => {
        if (inside(Math.floor(i / 24), i % 24)) expect(v).toBeGreaterThan(0);
        else expect(v).toBe(0);
      });
    }
    images.dispose();
  });

  it('normalises each map to its maximum, linearly or over three decades', async () => {
    const { ErfFigure } = await import('../../../plugins/erf/src/ErfFigure.js');
    const { ColorMap } = await import('@bt-platform/sdk/draw');
    const values = Float32Array.from([0, 0.0005, 0.01, 0.5, 2]);
    expect([...new ErfFigure(new ColorMap('inferno'), 64, 'linear').normalise(values)]).toEqual([0, 0.00025, 0.005, 0.25, 1].map(Math.fround));
    const log = new ErfFigure(new ColorMap('inferno'), 64, 'log').normalise(values);
    [0, 0, 1 + Math.log10(0.005) / 3, 1 + Math.log10(0.25) / 3, 1].forEach((v, i) => expect(log[i]).toBeCloseTo(v, 5));
  });

  it('by default shows how far a field reaches: a faint wide field looks wider than a narrow one, though both peak at the centre', async () => {
    const { ErfFigure } = await import('../../../plugins/erf/src/ErfFigure.js');
    const { ColorMap } = await import('@bt-platform/sdk/draw');
    const definitions: Array<{ name: string; options?: { parse(o: unknown): { scale: 'linear' | 'log' } } }> = [];
    erf.register?.({ component: (_slot, d) => void definitions.push(d as never) }, {});
    const { scale } = definitions.find((d) => d.name === 'erf')!.options!.parse({});
    // A residual network's deep ERF: the centre pixel dominates (the identity path), the reach is a faint wide field.
    const side = 33;
    const field = (wide: boolean) =>
      Float32Array.from({ length: side * side }, (_, i) => {
        const r2 = (Math.floor(i / side) - 16) ** 2 + ((i % side) - 16) ** 2;
        return (r2 === 0 ? 1 : 0) + 0.3 * Math.exp(-r2 / 2) + (wide ? 0.01 * Math.exp(-r2 / 128) : 0);
      });
    const maps = [false, true].map((wide) => ({ layer: wide ? 'deep' : 'shallow', values: field(wide), height: side, width: side }));
    const figure = new ErfFigure(new ColorMap('inferno'), 66, scale);
    const visible = (values: Float32Array) => values.filter((v) => v >= 0.2).length;
    const [shallow, deep] = maps.map((m) => visible(figure.normalise(m.values)));
    expect(deep).toBeGreaterThan(4 * shallow);

    // The drawn panels show it: far more bright pixels in the deep layer's panel.
    const file = path.join(new FakeRun().runDir, 'erf.png');
    await figure.draw(maps, 'ERF', 'test', file);
    const png = await readRaster(file);
    const grid = figure.layout(maps);
    const bright = (column: number) => {
      const { left, top } = grid.cell(0, column);
      let count = 0;
      for (let y = top; y < top + grid.panelHeight; y++) for (let x = left; x < left + grid.panelWidth; x++) if (Math.max(...png.data.subarray((y * png.width + x) * 3, (y * png.width + x) * 3 + 3)) > 80) count++;
      return count;
    };
    expect(bright(1)).toBeGreaterThan(4 * bright(0));
  });

  it('selects evenly spaced layers including the first and the last, or by pattern', () => {
    const vit = new TinyVit(4, 12);
    expect(selectLayers(vit, 4).map(([n]) => n)).toEqual(['blocks.0', 'blocks.4', 'blocks.7', 'blocks.11']);
    expect(selectLayers(vit, 1).map(([n]) => n)).toEqual(['blocks.11']);
    expect(selectLayers(vit, ['blocks.1*', 'patch_embed']).map(([n]) => n)).toEqual(['blocks.1', 'blocks.10', 'blocks.11', 'patch_embed']);
    expect(selectLayers(vit, ['/^blocks\\.[23]$/']).map(([n]) => n)).toEqual(['blocks.2', 'blocks.3']);
    expect(() => selectLayers(vit, ['layer4'])).toThrow(/no module matches "layer4"[\s\S]*/);
  });

  it('restores the model\'s train/eval mode and leaves no tensors', async () => {
    const vit = new TinyVit(4, 2);
    vit.train();
    const run = new FakeRun().provide(Slots.backbone, vit as unknown as Backbone);
    await run.callback(erf, 'erf', { layers: 2, batches: 1 });
    await run.hooks.setup.promise({ stage: 'fit', task: undefined as never, datamodule: undefined as never, runDir: run.runDir });
    const images = tf.ones([1, 8, 8, 3]) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    await validateWith(run, [images]);
    await validateWith(run, [images], 1);
    expect(tf.memory().numTensors).toBe(before);
    expect(vit.namedModules().every(([, m]) => m.training)).toBe(true);
    images.dispose();
  });
});

describe('erf of the platform\'s ViT', () => {
  it('reaches beyond the central patch after one attention block, and sees only it at the patch embedding', async () => {
    const { VisionTransformer, vitConfig, vitOptions } = await import('@bt-platform/plugin-backbone-vit');
    const { Rng } = await import('@bt-platform/sdk');
    const vit = new VisionTransformer(vitConfig(vitOptions.parse({ variant: 'custom', imageSize: 16, patchSize: 4, embedDim: 16, depth: 2, heads: 2, mlpRatio: 2 })), new Rng(3));
    const run = new FakeRun().provide(Slots.backbone, vit as unknown as Backbone);
    const callback = (await run.callback(erf, 'erf', { layers: ['patch_embed', 'blocks.0'], batches: 1 })) as ErfCallback;
    await run.hooks.setup.promise({ stage: 'fit', task: undefined as never, datamodule: undefined as never, runDir: run.runDir });
    const images = tf.randomNormal([2, 16, 16, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    await validateWith(run, [images]);
    expect(tf.memory().numTensors).toBe(before);
    const [embed, block] = callback.latest!.maps;
    // Grid 4 × 4: the central token is patch (2, 2), pixels 8..11 × 8..11.
    const outside = (map: typeof embed) => map.values.filter((_, i) => !(Math.floor(i / 16) >= 8 && Math.floor(i / 16) < 12 && i % 16 >= 8 && i % 16 < 12));
    expect(outside(embed).every((v) => v === 0)).toBe(true);
    expect(outside(block).every((v) => v > 0)).toBe(true);
    images.dispose();
    vit.dispose();
  });
});
