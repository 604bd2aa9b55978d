import * as tf from '@tensorflow/tfjs';
import { loadAddon, uninstallNativeKernels, useNativeBackend } from '@bt-platform/plugin-backend-native';
import { useJsBackend } from '@bt-platform/plugin-backend-tfjs';
import { barlowTwinsStep, type ModelSpec } from '../../../bench/backend.bench.js';

const status = loadAddon();
if (!status.addon) console.warn(`backend-native training tests on "native" skipped: ${status.reason}`);

const families: Record<string, ModelSpec> = {
  vit: {
    title: 'tiny ViT',
    backbone: { plugin: 'vit', component: 'vit', options: { variant: 'custom', imageSize: 12, patchSize: 4, embedDim: 24, depth: 2, heads: 2 } },
    image: 12,
    batch: 5,
    projector: 32,
  },
  resnet: {
    title: 'narrow ResNet-18',
    backbone: { plugin: 'resnet', component: 'resnet18', options: { baseWidth: 2 } },
    image: 32,
    batch: 8,
    projector: 32,
  },
};

/**
 * The first loss is the forward pass alone: equal to 1e-5. Adam's first update is about lr · sign(g),
 * so a gradient that is zero up to rounding can move either way and later losses drift apart a
 * little on any two backends: 1e-3.
 */
function expectSameLosses(actual: number[], expected: number[]): void {
  actual.forEach((l, i) => expect({ step: i, error: Math.abs(l - expected[i]) / Math.abs(expected[i]) < (i === 0 ? 1e-5 : 1e-3) }).toEqual({ step: i, error: true }));
}

async function losses(spec: ModelSpec, backend: 'cpu' | 'wasm' | 'native'): Promise<number[]> {
  if (backend === 'native') await useNativeBackend();
  else {
    uninstallNativeKernels();
    await useJsBackend(backend);
  }
  const run = await barlowTwinsStep(spec);
  const result = [run.step()];
  const before = tf.memory().numTensors;
  result.push(run.step(), run.step());
  expect(tf.memory().numTensors).toBe(before);
  run.dispose();
  return result;
}

describe.each(Object.entries(families))('a Barlow Twins training step of a %s (backbone plugin + task-barlow-twins)', (_name, spec) => {
  let cpu: number[];
  beforeAll(async () => {
    cpu = await losses(spec, 'cpu');
    expect(cpu[2]).toBeLessThan(cpu[0]);
  });

  it('gives the same losses on wasm (with the bridge) as on cpu over three Adam steps, without leaking', async () => {
    expectSameLosses(await losses(spec, 'wasm'), cpu);
  });

  (status.addon ? it : it.skip)('gives the same losses on native as on cpu over three Adam steps, without leaking', async () => {
    expectSameLosses(await losses(spec, 'native'), cpu);
  });
});
