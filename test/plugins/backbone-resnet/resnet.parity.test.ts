import * as tf from '@tensorflow/tfjs';
import { Slots } from '@bt-platform/sdk';
import type { Backbone } from '@bt-platform/sdk';
import resnetPlugin from '@bt-platform/plugin-backbone-resnet';
import { create, fakeContext, fixture, image, manifest, relativeError } from '../../fixtures/models/modelTesting.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

async function resnet(name: 'resnet18' | 'resnet50', extra: Record<string, unknown> = {}): Promise<Backbone> {
  return create(resnetPlugin, Slots.backbone, name, { baseWidth: manifest[name].baseWidth, weights: `${name}.safetensors`, ...extra }, fakeContext());
}

const input = (name: string) => image(manifest[name].batch, manifest[name].imageSize, manifest[name].imageSize);

describe.each(['resnet18', 'resnet50'] as const)('%s parity with torchvision (eval)', (name) => {
  test('layer4 feature map and pooled features', async () => {
    const model = (await resnet(name)).eval();
    const expected = await fixture(`${name}.expected`);
    const x = input(name);
    const out = model.call(x);
    const errors = { featureMap: relativeError(out.featureMap, expected.featureMap), pooled: relativeError(out.pooled, expected.pooled) };
    console.log(`${name} max relative error: ${JSON.stringify(errors)}`);
    expect(Math.max(...Object.values(errors))).toBeLessThan(1e-4);
    tf.dispose([x, out.featureMap, out.pooled]);
    model.dispose();
  });
});

test.each([
  ['resnet50', { dilated: true }],
  ['resnet', { variant: 'resnet50', outputStride: 8 }],
])('%s %j (output stride 8) matches torchvision replace_stride_with_dilation [false, true, true]', async (component, options) => {
  const model = (await create<Backbone>(resnetPlugin, Slots.backbone, component, { baseWidth: 2, weights: 'resnet50.safetensors', ...options }, fakeContext())).eval();
  expect(model.stride).toBe(8);
  const x = input('resnet50');
  const out = model.call(x);
  const error = relativeError(out.featureMap, (await fixture('resnet50.expected'))['dilated.featureMap']);
  console.log(`resnet50 dilated max relative error: ${error}`);
  expect(error).toBeLessThan(1e-4);
  tf.dispose([x, out.featureMap, out.pooled]);
  model.dispose();
});

test('one training-mode forward normalises with batch statistics and updates running statistics as PyTorch', async () => {
  const model = (await resnet('resnet18')).train();
  const expected = await fixture('resnet18.expected');
  const x = input('resnet18');
  const out = model.call(x);
  const outputError = relativeError(out.featureMap, expected['train.featureMap']);
  const state = model.stateDict();
  let statsError = 0;
  let buffers = 0;
  for (const [key, value] of Object.entries(expected)) {
    if (!key.startsWith('after.')) continue;
    const name = key.slice('after.'.length);
    buffers++;
    if (name.endsWith('num_batches_tracked')) expect([name, state[name].data[0]]).toEqual([name, value.data[0]]);
    else statsError = Math.max(statsError, relativeError(tf.tensor(state[name].data, state[name].shape), value));
  }
  console.log(`resnet18 train mode max relative error: output ${outputError}, running stats ${statsError} (${buffers} buffers)`);
  expect(buffers).toBe(Object.keys(state).filter((k) => /running|num_batches/.test(k)).length);
  expect(outputError).toBeLessThan(1e-4);
  expect(statsError).toBeLessThan(1e-4);
  // Eval mode then uses the updated statistics, not the batch's.
  model.eval();
  const evalOut = model.call(x);
  expect(relativeError(evalOut.featureMap, expected['train.featureMap'])).toBeGreaterThan(1e-3);
  tf.dispose([x, out.featureMap, out.pooled, evalOut.featureMap, evalOut.pooled]);
  model.dispose();
});
