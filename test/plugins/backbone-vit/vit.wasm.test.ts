import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { Slots } from '@bt-platform/sdk';
import type { Backbone } from '@bt-platform/sdk';
import vitPlugin from '@bt-platform/plugin-backbone-vit';
import { create, fakeContext, fixture, image, relativeError } from '../../fixtures/models/modelTesting.js';

/** The ViT uses no convolution, so it trains on plain tfjs wasm (which lacks Conv2DBackpropFilter). */
beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

const tiny = { variant: 'custom', imageSize: 32, patchSize: 8, embedDim: 16, depth: 4, heads: 2, mlpRatio: 2, weights: 'vit_p8.safetensors' };

test('on wasm: matches the PyTorch reference and trains (forward + backward) without leaking', async () => {
  expect(tf.getBackend()).toBe('wasm');
  const model: Backbone = await create(vitPlugin, Slots.backbone, 'vit', tiny, fakeContext());
  const expected = await fixture('vit_p8.expected');
  const x = image(2, 48, 48);
  model.eval();
  const out = model.call(x);
  const error = relativeError(out.tokens!, expected.tokens48);
  console.log(`vit_p8 on wasm max relative error @48: ${error}`);
  expect(error).toBeLessThan(1e-4);
  tf.dispose(Object.values(out).flat() as tf.Tensor[]);
  model.train();
  const before = tf.memory().numTensors;
  const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(model.call(x).featureMap)) as tf.Scalar, Object.values(model.trainableVariables()));
  expect(tf.tidy(() => Object.values(grads).every((g) => Number.isFinite(tf.sum(g).dataSync()[0])))).toBe(true);
  tf.dispose([value, ...Object.values(grads)]);
  expect(tf.memory().numTensors).toBe(before);
  x.dispose();
  model.dispose();
});
