import * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import crossCorrelation from '@bt-platform/plugin-cross-correlation';
import { ColorMap } from '@bt-platform/sdk/draw';
import { readRaster } from '@bt-platform/sdk/draw';
import { CrossCorrelationFigure } from '../../../plugins/cross-correlation/src/CrossCorrelationFigure.js';
import type { CrossCorrelationCallback } from '../../../plugins/cross-correlation/src/CrossCorrelationCallback.js';
import { FakeRun } from '../predictions/FakeRun.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const D = 8;

function randomMatrices(count: number, seed: number): Float32Array[] {
  return Array.from({ length: count }, (_, k) => tf.tidy(() => tf.randomUniform([D, D], -1, 1, 'float32', seed + k).dataSync() as Float32Array));
}

async function trainEpoch(run: FakeRun, epoch: number, matrices: Float32Array[]): Promise<number[]> {
  const counts: number[] = [];
  await run.hooks.trainEpochStart.promise({ epoch, globalStep: run.trainer.globalStep, batches: matrices.length });
  for (const [batchIdx, m] of matrices.entries()) {
    const cc = tf.tensor2d(m, [D, D]);
    await run.hooks.trainBatchEnd.promise({ epoch, batchIdx, globalStep: ++run.trainer.globalStep, loss: 0, logs: {}, batch: {}, outputs: { crossCorrelation: cc } });
    cc.dispose();
    counts.push(tf.memory().numTensors);
  }
  await run.hooks.trainEpochEnd.promise({ epoch, globalStep: run.trainer.globalStep, metrics: {} });
  return counts;
}

describe('cross-correlation', () => {
  it('draws the mean of the epoch\'s matrices, cell by cell in the colour map, with a constant tensor count', async () => {
    const run = new FakeRun();
    const callback = (await run.callback(crossCorrelation, 'cross-correlation', { size: 64 })) as CrossCorrelationCallback;
    const matrices = randomMatrices(3, 7);
    const before = tf.memory().numTensors;
    const counts = await trainEpoch(run, 0, matrices);
    expect(new Set(counts).size).toBe(1);
    expect(tf.memory().numTensors).toBe(before);

    const expected = Float32Array.from({ length: D * D }, (_, i) => (matrices[0][i] + matrices[1][i] + matrices[2][i]) / 3);
    const latest = callback.latest.train!;
    expect(latest.count).toBe(3);
    latest.values.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 5));

    expect(run.media).toHaveLength(1);
    expect(run.media[0]).toMatchObject({ key: 'cross_correlation/train', path: latest.path });
    const png = await readRaster(latest.path);
    const figure = new CrossCorrelationFigure(new ColorMap('blue-white-red'), [-1, 1], 64);
    const layout = figure.layout();
    const cell = layout.matrix.side / D;
    for (const [i, j] of [[0, 0], [3, 5], [7, 7], [6, 1]]) {
      const x = Math.floor(layout.matrix.left + (j + 0.5) * cell);
      const y = Math.floor(layout.matrix.top + (i + 0.5) * cell);
      const at = (y * png.width + x) * 3;
      expect([...png.data.subarray(at, at + 3)]).toEqual(figure.colour(expected[i * D + j]));
    }
  });

  it('draws an identity-like matrix with the diagonal red, zeros white and negatives blue, a labelled colour bar and the diagonal statistics in the title', async () => {
    const run = new FakeRun();
    const callback = (await run.callback(crossCorrelation, 'cross-correlation', { size: 64, stages: ['train'] })) as CrossCorrelationCallback;
    const identity = Float32Array.from({ length: D * D }, (_, i) => (i % (D + 1) === 0 ? 0.9 : 0));
    identity[2 * D + 5] = identity[5 * D + 2] = -0.8;
    await trainEpoch(run, 0, [identity]);
    const latest = callback.latest.train!;
    expect(latest.subtitle).toMatch(/mean diagonal 0\.900, mean \|off-diagonal\| 0\.029/);

    const png = await readRaster(latest.path);
    const layout = new CrossCorrelationFigure(new ColorMap('blue-white-red'), [-1, 1], 64).layout();
    const cell = layout.matrix.side / D;
    const pixel = (x: number, y: number) => [...png.data.subarray((Math.floor(y) * png.width + Math.floor(x)) * 3, (Math.floor(y) * png.width + Math.floor(x)) * 3 + 3)];
    const at = (i: number, j: number) => pixel(layout.matrix.left + (j + 0.5) * cell, layout.matrix.top + (i + 0.5) * cell);
    const [rd, gd, bd] = at(3, 3);
    expect(rd).toBeGreaterThan(150);
    expect(rd - Math.max(gd, bd)).toBeGreaterThan(60);
    expect(Math.min(...at(0, 7))).toBeGreaterThan(225);
    const [rn, , bn] = at(2, 5);
    expect(bn - rn).toBeGreaterThan(60);

    // The colour bar runs from red (1) at the top through white (0) to blue (-1), with its ticks labelled.
    const bar = layout.colorBar;
    const barX = bar.left + bar.width / 2;
    const [rt, gt] = pixel(barX, bar.top + 2);
    expect(rt - gt).toBeGreaterThan(60);
    expect(Math.min(...pixel(barX, bar.top + bar.height / 2))).toBeGreaterThan(225);
    const [rb, , bb] = pixel(barX, bar.top + bar.height - 2);
    expect(bb - rb).toBeGreaterThan(60);
    const svg = new CrossCorrelationFigure(new ColorMap('blue-white-red'), [-1, 1], 64).compose(identity, D, latest.title, latest.subtitle).svg();
    for (const tick of ['>1<', '>0.5<', '>0<', '>-0.5<', '>-1<']) expect(svg).toContain(tick);
    expect(svg).toContain('mean diagonal 0.900');
    // The title is rendered: dark pixels above the matrix.
    let dark = 0;
    for (let y = 0; y < layout.matrix.top - 4; y++) for (let x = 0; x < png.width; x++) if (Math.max(...pixel(x, y)) < 100) dark++;
    expect(dark).toBeGreaterThan(50);
  });

  it('centres the diverging colours on 0 for an asymmetric range', () => {
    const figure = new CrossCorrelationFigure(new ColorMap('blue-white-red'), [-0.2, 1], 64);
    expect(figure.level(0)).toBe(0.5);
    expect(figure.level(-0.2)).toBe(0);
    expect(figure.level(1)).toBe(1);
    expect(figure.level(-0.1)).toBeCloseTo(0.25, 6);
    expect(figure.level(0.5)).toBeCloseTo(0.75, 6);
    expect(new CrossCorrelationFigure(new ColorMap('blue-white-red'), [0, 1], 64).level(0.5)).toBeCloseTo(0.5, 6);
  });

  it('averages validation separately, only on due epochs', async () => {
    const run = new FakeRun();
    const callback = (await run.callback(crossCorrelation, 'cross-correlation', { size: 32, everyNEpochs: 2 })) as CrossCorrelationCallback;
    for (const epoch of [0, 1]) {
      await trainEpoch(run, epoch, randomMatrices(2, 3));
      await run.hooks.validationStart.promise({ stage: 'val', epoch, globalStep: run.trainer.globalStep, batches: 2 });
      for (const [batchIdx, value] of [0.2, 0.6].entries()) {
        const cc = tf.fill([D, D], value);
        await run.hooks.validationBatchEnd.promise({ stage: 'val', epoch, batchIdx, globalStep: run.trainer.globalStep, loss: 0, logs: {}, batch: {}, outputs: { crossCorrelation: cc } });
        cc.dispose();
      }
      await run.hooks.validationEnd.promise({ stage: 'val', epoch, globalStep: run.trainer.globalStep, metrics: {} });
    }
    expect(run.media.map((m) => m.key)).toEqual(['cross_correlation/train', 'cross_correlation/val']);
    callback.latest.val!.values.forEach((v) => expect(v).toBeCloseTo(0.4, 6));
    expect(existsSync(callback.latest.val!.path)).toBe(true);
  });

  it('averages a matrix larger than the drawing block by block on the backend', async () => {
    const run = new FakeRun();
    const callback = (await run.callback(crossCorrelation, 'cross-correlation', { size: 32, stages: ['train'] })) as CrossCorrelationCallback;
    const side = 64;
    const data = Float32Array.from({ length: side * side }, (_, i) => Math.sin(i));
    await run.hooks.trainEpochStart.promise({ epoch: 0, globalStep: 0, batches: 1 });
    const cc = tf.tensor2d(data, [side, side]);
    await run.hooks.trainBatchEnd.promise({ epoch: 0, batchIdx: 0, globalStep: 1, loss: 0, logs: {}, batch: {}, outputs: { crossCorrelation: cc } });
    cc.dispose();
    await run.hooks.trainEpochEnd.promise({ epoch: 0, globalStep: 1, metrics: {} });
    const latest = callback.latest.train!;
    expect([latest.shape, latest.block]).toEqual([[32, 32], 2]);
    for (const [r, c] of [[0, 0], [5, 17], [31, 31]]) {
      const cells = [[0, 0], [0, 1], [1, 0], [1, 1]].map(([dr, dc]) => data[(2 * r + dr) * side + 2 * c + dc]);
      expect(latest.values[r * 32 + c]).toBeCloseTo(cells.reduce((a, b) => a + b) / 4, 5);
    }
    expect(run.media[0].caption).toMatch(/each cell averages 2×2 entries/);
  });

  it('says which output is missing', async () => {
    const run = new FakeRun();
    await run.callback(crossCorrelation, 'cross-correlation', {});
    await run.hooks.trainEpochStart.promise({ epoch: 0, globalStep: 0, batches: 1 });
    const logits = tf.zeros([1, 2, 2, 3]);
    await expect(
      run.hooks.trainBatchEnd.promise({ epoch: 0, batchIdx: 0, globalStep: 0, loss: 0, logs: {}, batch: {}, outputs: { logits } }),
    ).rejects.toThrow(/no square "crossCorrelation" matrix \(outputs: logits\)/);
    logits.dispose();
  });

  it('rejects an unknown colour map when created', async () => {
    await expect(new FakeRun().callback(crossCorrelation, 'cross-correlation', { colormap: 'nope' })).rejects.toThrow(/Unknown colour map "nope"/);
  });
});
