import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import erf from '@bt-platform/plugin-erf';
import { Module, Slots, type Backbone } from '@bt-platform/sdk';
import type { ErfCallback } from '../../../plugins/erf/src/ErfCallback.js';
import { FakeRun } from '../predictions/FakeRun.js';

interface Encoded {
  shape: number[];
  data: number[];
}
const fixture = JSON.parse(readFileSync(new URL('../../fixtures/callbacks/callbacks.json', import.meta.url), 'utf8')) as {
  erf: { w1: Encoded; w2: Encoded; images: Encoded; erf: Encoded };
};
const tensor = (e: Encoded) => tf.tensor(e.data, e.shape);

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** The fixture's network: conv 3×3 (pad 1) → ReLU → conv 3×3 (stride 2, pad 1), PyTorch's padding. */
class ConvReluConv extends Module {
  readonly kind = 'cnn' as const;
  private readonly w1 = this.registerParameter('w1', tensor(fixture.erf.w1), 'conv2d');
  private readonly w2 = this.registerParameter('w2', tensor(fixture.erf.w2), 'conv2d');
  readonly out = this.registerModule('out', new (class extends Module {
    forward(x: tf.Tensor4D) {
      return x;
    }
  })());
  forward(x: tf.Tensor4D) {
    const hidden = tf.relu(tf.conv2d(x, this.w1 as tf.Tensor4D, 1, 1));
    return this.out.call(tf.conv2d(hidden, this.w2 as tf.Tensor4D, 2, 1));
  }
}

describe('erf against PyTorch', () => {
  it('ERF of conv → ReLU → strided conv, averaged over two images, matches autograd', async () => {
    const net = new ConvReluConv();
    const run = new FakeRun().provide(Slots.backbone, net as unknown as Backbone);
    const callback = (await run.callback(erf, 'erf', { layers: ['out'], batches: 1 })) as ErfCallback;
    await run.hooks.setup.promise({ stage: 'fit', task: undefined as never, datamodule: undefined as never, runDir: run.runDir });
    const image = tensor(fixture.erf.images);
    await run.hooks.validationStart.promise({ stage: 'val', epoch: 0, globalStep: 0, batches: 1 });
    await run.hooks.validationBatchEnd.promise({ stage: 'val', epoch: 0, batchIdx: 0, globalStep: 0, loss: 0, logs: {}, batch: { image }, outputs: {} });
    await run.hooks.validationEnd.promise({ stage: 'val', epoch: 0, globalStep: 0, metrics: {} });
    const values = callback.latest!.maps[0].values;
    expect(values).toHaveLength(fixture.erf.erf.data.length);
    fixture.erf.erf.data.forEach((expected, i) => expect(values[i]).toBeCloseTo(expected, 4));
    expect(fixture.erf.erf.data.filter((v) => v > 0).length).toBeGreaterThan(9);
    image.dispose();
    net.dispose();
  });
});
