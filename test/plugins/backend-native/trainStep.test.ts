import * as tf from '@tensorflow/tfjs';
import { loadAddon, useNativeBackend } from '@bt-platform/plugin-backend-native';
import { barlowTwinsStep, type ModelSpec } from '../../../bench/backend.bench.js';

const status = loadAddon();
if (!status.addon) console.warn(`backend-native training test skipped: ${status.reason}`);
const itNative = status.addon ? it : it.skip;

const tinyVit: ModelSpec = {
  title: 'test',
  backbone: { plugin: 'vit', component: 'vit', options: { variant: 'custom', imageSize: 12, patchSize: 4, embedDim: 24, depth: 2, heads: 2 } },
  image: 12,
  batch: 5,
  projector: 32,
};

async function losses(backend: 'cpu' | 'native'): Promise<number[]> {
  if (backend === 'native') await useNativeBackend();
  else await tf.setBackend('cpu');
  const run = await barlowTwinsStep(tinyVit);
  const result = [run.step()];
  const before = tf.memory().numTensors;
  result.push(run.step(), run.step());
  expect(tf.memory().numTensors).toBe(before);
  run.dispose();
  return result;
}

describe('a Barlow Twins training step of a small ViT (backbone-vit + task-barlow-twins)', () => {
  itNative('gives the same losses on native as on cpu over three Adam steps, without leaking', async () => {
    const cpu = await losses('cpu');
    const native = await losses('native');
    expect(cpu[2]).toBeLessThan(cpu[0]);
    native.forEach((l, i) => expect(Math.abs(l - cpu[i]) / Math.abs(cpu[i])).toBeLessThan(1e-4));
  });
});
