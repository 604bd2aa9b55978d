import * as tf from '@tensorflow/tfjs';
import predictions from '@bt-platform/plugin-predictions';
import { Slots, type DataModule } from '@bt-platform/sdk';
import { readRaster } from '@bt-platform/sdk/draw';
import { GridLayout } from '@bt-platform/sdk/draw';
import type { PredictionsCallback } from '../../../plugins/predictions/src/PredictionsCallback.js';
import type { ViewsCallback } from '../../../plugins/predictions/src/ViewsCallback.js';
import { FakeRun } from './FakeRun.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const H = 12;
const W = 16;
const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];
const PALETTE: Array<[number, number, number]> = [[0, 0, 0], [128, 0, 0], [0, 128, 0]];

const datamodule = {
  classNames: ['background', 'aeroplane', 'bicycle'],
  palette: PALETTE,
  ignoreIndex: 255,
  normalization: { mean: MEAN, std: STD },
  trainBatches: () => { throw new Error('unused'); },
  valBatches: () => { throw new Error('unused'); },
} as unknown as DataModule;

/** Truth: class 1 on the left, 2 on the right, a void border. Prediction: class 2 in the top rows, 1 below, 0 in a corner. */
const truthAt = (b: number, y: number, x: number) => (y === 0 || x === 0 ? 255 : x < W / 2 + b ? 1 : 2);
const predAt = (b: number, y: number, x: number) => (y < 2 && x < 2 ? 0 : y < H / 2 - b ? 2 : 1);

function segmentationBatch(batchSize: number) {
  const image = tf.tidy(() => tf.randomUniform([batchSize, H, W, 3], 0, 1, 'float32', 3).sub(tf.tensor1d(MEAN)).div(tf.tensor1d(STD)));
  const mask = tf.tensor3d(Int32Array.from({ length: batchSize * H * W }, (_, i) => truthAt(Math.floor(i / (H * W)), Math.floor(i / W) % H, i % W)), [batchSize, H, W], 'int32');
  const logits = tf.tidy(() => {
    const labels = tf.tensor3d(Int32Array.from({ length: batchSize * H * W }, (_, i) => predAt(Math.floor(i / (H * W)), Math.floor(i / W) % H, i % W)), [batchSize, H, W], 'int32');
    return tf.oneHot(labels, 3).toFloat().mul(5).add(tf.randomUniform([batchSize, H, W, 3], 0, 1, 'float32', 4));
  });
  return { image, mask, logits };
}

describe('predictions', () => {
  it('draws image | truth | prediction with the palette at the right pixels, and a legend of present classes', async () => {
    const run = new FakeRun().provide(Slots.datamodule, datamodule);
    const callback = (await run.callback(predictions, 'predictions', { images: 2, minPanelSize: 48 })) as PredictionsCallback;
    const { image, mask, logits } = segmentationBatch(3);
    const before = tf.memory().numTensors;
    await run.hooks.validationBatchEnd.promise({ stage: 'val', epoch: 0, batchIdx: 0, globalStep: 5, loss: 0, logs: {}, batch: { image, mask }, outputs: { logits } });
    await run.hooks.validationBatchEnd.promise({ stage: 'val', epoch: 0, batchIdx: 1, globalStep: 5, loss: 0, logs: {}, batch: { image, mask }, outputs: { logits } });
    expect(tf.memory().numTensors).toBe(before);
    expect(run.media).toHaveLength(1);
    expect(run.media[0].key).toBe('predictions/val');

    const latest = callback.latest.val!;
    expect(latest.rows).toHaveLength(2);
    const png = await readRaster(latest.path);
    const scale = GridLayout.scaleFor(H, W, 48);
    const grid = new GridLayout(2, 3, W * scale, H * scale, { right: 180 });
    const imageData = image.dataSync();
    const pixel = (row: number, column: number, y: number, x: number) => {
      const { left, top } = grid.cell(row, column);
      const at = ((top + y * scale + (scale >> 1)) * png.width + left + x * scale + (scale >> 1)) * 3;
      return [...png.data.subarray(at, at + 3)];
    };
    for (let b = 0; b < 2; b++) {
      for (const [y, x] of [[0, 5], [3, 3], [3, 12], [1, 1], [9, 8], [9, 9], [11, 15]]) {
        const truth = truthAt(b, y, x);
        expect(pixel(b, 1, y, x)).toEqual(truth === 255 ? [224, 224, 192] : PALETTE[truth]);
        expect(pixel(b, 2, y, x)).toEqual(PALETTE[predAt(b, y, x)]);
        const rgb = [0, 1, 2].map((c) => Math.round(Math.min(1, Math.max(0, imageData[((b * H + y) * W + x) * 3 + c] * STD[c] + MEAN[c])) * 255));
        pixel(b, 0, y, x).forEach((v, c) => expect(Math.abs(v - rgb[c])).toBeLessThanOrEqual(1));
      }
    }
    image.dispose();
    mask.dispose();
    logits.dispose();
  });

  it('lists the labels present for the legend, void last', async () => {
    const { PredictionsFigure } = await import('../../../plugins/predictions/src/PredictionsFigure.js');
    const { LabelPainter } = await import('../../../plugins/predictions/src/LabelPainter.js');
    const painter = new LabelPainter(datamodule, 3);
    const figure = new PredictionsFigure(painter, 64);
    const image = { data: new Uint8Array(12), width: 2, height: 2 };
    expect(figure.presentLabels([{ image, truth: [255, 2, 2, 2], prediction: [0, 0, 2, 2] }])).toEqual([0, 2, 255]);
    expect([0, 2, 255].map((l) => painter.name(l))).toEqual(['background', 'bicycle', 'void']);
  });

  it('names what is missing when used with the wrong task', async () => {
    const run = new FakeRun().provide(Slots.datamodule, datamodule);
    await run.callback(predictions, 'predictions', {});
    const view1 = tf.zeros([1, 4, 4, 3]);
    await expect(
      run.hooks.validationBatchEnd.promise({ stage: 'val', epoch: 0, batchIdx: 0, globalStep: 0, loss: 0, logs: {}, batch: { view1 }, outputs: {} }),
    ).rejects.toThrow(/needs "image".*batch: view1; outputs: none/);
    view1.dispose();
  });
});

describe('augmented-views', () => {
  it('draws both views of the first images, de-normalised', async () => {
    const run = new FakeRun().provide(Slots.datamodule, datamodule);
    const callback = (await run.callback(predictions, 'augmented-views', { images: 2, minPanelSize: 32 })) as ViewsCallback;
    // View 1 is pure red, view 2 pure blue, once de-normalised.
    const colour = (rgb: number[]) => tf.tidy(() => tf.tensor1d(rgb).sub(tf.tensor1d(MEAN)).div(tf.tensor1d(STD)).reshape([1, 1, 1, 3]).tile([3, 8, 8, 1]));
    const view1 = colour([1, 0, 0]);
    const view2 = colour([0, 0, 1]);
    await run.hooks.trainBatchEnd.promise({ epoch: 0, batchIdx: 0, globalStep: 1, loss: 0, logs: {}, batch: { view1, view2 }, outputs: {} });
    view1.dispose();
    view2.dispose();
    const png = await readRaster(callback.latest.train!);
    const grid = new GridLayout(2, 2, 32, 32, { left: 70 });
    expect(png.width).toBe(grid.width);
    const centre = (row: number, column: number) => {
      const { left, top } = grid.cell(row, column);
      const at = ((top + 16) * png.width + left + 16) * 3;
      return [...png.data.subarray(at, at + 3)];
    };
    expect(centre(0, 1)).toEqual([255, 0, 0]);
    expect(centre(1, 0)).toEqual([0, 0, 255]);
    expect(run.media.map((m) => m.key)).toEqual(['views/train']);
  });
});
