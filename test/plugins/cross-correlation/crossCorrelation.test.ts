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
    const layout = new CrossCorrelationFigure(new ColorMap('rainbow'), [-1, 1], 64).layout();
    const map = new ColorMap('rainbow');
    const cell = layout.matrix.side / D;
    for (const [i, j] of [[0, 0], [3, 5], [7, 7], [6, 1]]) {
      const x = Math.floor(layout.matrix.left + (j + 0.5) * cell);
      const y = Math.floor(layout.matrix.top + (i + 0.5) * cell);
      const at = (y * png.width + x) * 3;
      expect([...png.data.subarray(at, at + 3)]).toEqual(map.rgb((expected[i * D + j] + 1) / 2));
    }
  });

  it('draws 1 red and 0 cyan-green with the default colour map', () => {
    const map = new ColorMap('rainbow');
    const [r1, g1, b1] = map.rgb(1);
    expect(r1).toBeGreaterThan(200);
    expect(g1 + b1).toBeLessThan(50);
    const [r0, g0, b0] = map.rgb(0.5);
    expect(r0).toBeLessThan(80);
    expect(g0).toBeGreaterThan(200);
    expect(b0).toBeGreaterThan(100);
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
