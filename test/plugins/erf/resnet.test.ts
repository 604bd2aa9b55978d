import * as tf from '@tensorflow/tfjs';
import erf from '@bt-platform/plugin-erf';
import resnetPlugin from '@bt-platform/plugin-backbone-resnet';
import { Slots, type Backbone, type ComponentDefinition } from '@bt-platform/sdk';
import type { ErfCallback } from '../../../plugins/erf/src/ErfCallback.js';
import { FakeRun } from '../predictions/FakeRun.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

async function tinyResNet(run: FakeRun): Promise<Backbone> {
  const definitions: Array<ComponentDefinition<unknown>> = [];
  resnetPlugin.register?.({ component: (_slot, d) => void definitions.push(d as ComponentDefinition<unknown>) }, {});
  const definition = definitions.find((d) => d.name === 'resnet18')!;
  return (await definition.create(definition.options!.parse({ baseWidth: 4 }), run.context())) as Backbone;
}

describe('erf of the platform\'s ResNet', () => {
  it('picks residual blocks from the first to the last, whose receptive fields grow with depth', async () => {
    const run = new FakeRun();
    const resnet = await tinyResNet(run);
    run.provide(Slots.backbone, resnet);
    const callback = (await run.callback(erf, 'erf', { layers: 3, batches: 1 })) as ErfCallback;
    await run.hooks.setup.promise({ stage: 'fit', task: undefined as never, datamodule: undefined as never, runDir: run.runDir });
    const image = tf.randomNormal([2, 64, 64, 3], 0, 1, 'float32', 9);
    const before = tf.memory().numTensors;
    await run.hooks.validationStart.promise({ stage: 'val', epoch: 0, globalStep: 0, batches: 1 });
    await run.hooks.validationBatchEnd.promise({ stage: 'val', epoch: 0, batchIdx: 0, globalStep: 0, loss: 0, logs: {}, batch: { image }, outputs: {} });
    await run.hooks.validationEnd.promise({ stage: 'val', epoch: 0, globalStep: 0, metrics: {} });
    expect(tf.memory().numTensors).toBe(before);
    const maps = callback.latest!.maps;
    expect(maps.map((m) => m.layer)).toEqual(['layer1.0', 'layer3.0', 'layer4.1']);
    // Pixels whose influence is at least 1% of the strongest one.
    const reach = maps.map((m) => {
      const peak = Math.max(...m.values);
      return m.values.filter((v) => v > 0.01 * peak).length;
    });
    expect(reach[0]).toBeGreaterThan(0);
    expect(reach[1]).toBeGreaterThan(reach[0]);
    expect(reach[2]).toBeGreaterThan(reach[1]);
    image.dispose();
    resnet.dispose();
  });
});
