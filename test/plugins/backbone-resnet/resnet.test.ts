import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { encodeSafetensors, Slots } from '@bt-platform/sdk';
import type { Backbone } from '@bt-platform/sdk';
import resnetPlugin from '@bt-platform/plugin-backbone-resnet';
import { components, create, expectError, fakeContext, fixture, FIXTURES, image } from '../../fixtures/models/modelTesting.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

async function resnet(name: string, options: Record<string, unknown>, configDir = FIXTURES): Promise<Backbone> {
  return create(resnetPlugin, Slots.backbone, name, options, fakeContext(new Map(), configDir));
}

test('registers resnet18, resnet34, resnet50, resnet101 and resnet (by variant) backbones', () => {
  expect([...components(resnetPlugin).keys()]).toEqual(['backbone:resnet18', 'backbone:resnet34', 'backbone:resnet50', 'backbone:resnet101', 'backbone:resnet']);
});

test('`resnet` picks the depth by variant and the dilation by outputStride', async () => {
  const strides = [];
  for (const outputStride of [32, 16, 8]) {
    const model = await resnet('resnet', { variant: 'resnet50', outputStride, baseWidth: 2 });
    strides.push([model.stride, model.featureDim]);
    model.dispose();
  }
  expect(strides).toEqual([
    [32, 64],
    [16, 64],
    [8, 64],
  ]);
  await expectError(resnet('resnet', { variant: 'resnet34', outputStride: 16 }), 'CONFIG_INVALID', 'resnet34 cannot be dilated');
});

test('torchvision names, shapes and buffers', async () => {
  const model = await resnet('resnet50', { baseWidth: 2 });
  const state = model.stateDict();
  expect(state['conv1.weight'].shape).toEqual([2, 3, 7, 7]);
  expect(state['layer1.0.downsample.0.weight'].shape).toEqual([8, 2, 1, 1]);
  expect(state['layer1.0.downsample.1.running_var'].shape).toEqual([8]);
  expect(state['layer4.2.conv3.weight'].shape).toEqual([64, 16, 1, 1]);
  expect(state['layer4.2.bn3.num_batches_tracked']).toMatchObject({ dtype: 'int32', shape: [] });
  expect(state['fc.weight']).toBeUndefined();
  expect(Object.keys(state)).toHaveLength(Object.keys(await fixture('resnet50')).length);
  expect([model.kind, model.featureDim, model.stride]).toEqual(['cnn', 64, 32]);
  model.dispose();
});

test('forward and backward in training mode leave no tensor behind (running statistics replaced in place)', async () => {
  const model = (await resnet('resnet18', { baseWidth: 2 })).train();
  const x = image(2, 32, 32);
  const variables = Object.values(model.trainableVariables());
  for (let step = 0; step < 2; step++) {
    const before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(() => {
      const f = model.call(x);
      return tf.add(tf.mean(tf.square(f.featureMap)), tf.mean(f.pooled)) as tf.Scalar;
    }, variables);
    expect(Object.keys(grads)).toHaveLength(variables.length);
    tf.dispose([value, ...Object.values(grads)]);
    expect(tf.memory().numTensors).toBe(before);
  }
  expect(model.stateDict()['layer3.1.bn2.num_batches_tracked'].data[0]).toBe(2);
  x.dispose();
  model.dispose();
});

test('freeze: true makes every parameter non-trainable (buffers are not parameters)', async () => {
  const model = await resnet('resnet18', { baseWidth: 2, freeze: true });
  expect(Object.keys(model.trainableVariables())).toHaveLength(0);
  expect(model.namedParameters().some(([n]) => n.includes('running'))).toBe(false);
  model.dispose();
});

test('dilated resnet18 is a ConfigError naming the fix, as torchvision refuses it', async () => {
  const error = await expectError(resnet('resnet18', { dilated: true }), 'CONFIG_INVALID', 'resnet18', 'dilated');
  expect(error.hint).toMatch(/resnet50/);
});

test('a torchvision DeepLabV3 or classification checkpoint loads its backbone part', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'resnet-weights-'));
  const state = await fixture('resnet50');
  const deeplab = Object.fromEntries(Object.entries(state).map(([k, v]) => [`backbone.${k}`, v]));
  Object.assign(deeplab, await fixture('deeplabv3'));
  writeFileSync(path.join(dir, 'deeplab.safetensors'), encodeSafetensors(deeplab));
  writeFileSync(path.join(dir, 'classifier.safetensors'), encodeSafetensors({ ...state, 'fc.weight': { dtype: 'float32', shape: [10, 64], data: new Float32Array(640) } }));
  for (const file of ['deeplab.safetensors', 'classifier.safetensors']) {
    const model = await resnet('resnet50', { baseWidth: 2, weights: file }, dir);
    expect(Array.from(model.stateDict()['layer2.1.bn1.running_mean'].data)).toEqual(Array.from(state['layer2.1.bn1.running_mean'].data));
    model.dispose();
  }
});

describe('bad weights files', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'resnet-bad-'));
  });

  test('wrong names: missing and unexpected keys are listed; strict: false loads the rest', async () => {
    const state = await fixture('resnet18');
    const renamed = Object.fromEntries(Object.entries(state).map(([k, v]) => [k.replace(/^layer4\./, 'stage4.'), v]));
    writeFileSync(path.join(dir, 'renamed.safetensors'), encodeSafetensors(renamed));
    await expectError(resnet('resnet18', { baseWidth: 2, weights: 'renamed.safetensors' }, dir), 'WEIGHTS_MISMATCH', 'missing keys: layer4.0.conv1.weight', 'unexpected keys: stage4.');
    const model = await resnet('resnet18', { baseWidth: 2, weights: 'renamed.safetensors', strict: false }, dir);
    expect(Array.from(model.stateDict()['layer1.0.bn1.bias'].data)).toEqual(Array.from(state['layer1.0.bn1.bias'].data));
    model.dispose();
  });

  test('wrong shapes (another width) name the tensor and both shapes', async () => {
    await expectError(resnet('resnet18', { baseWidth: 4, weights: 'resnet18.safetensors' }), 'WEIGHTS_MISMATCH', 'conv1.weight expected [4,3,7,7] got [2,3,7,7]');
    await expectError(resnet('resnet50', { baseWidth: 2, weights: 'resnet18.safetensors' }), 'WEIGHTS_MISMATCH', 'missing keys:', 'layer1.0.conv3.weight');
  });

  test('a truncated file is reported as such', async () => {
    const bytes = readFileSync(path.join(FIXTURES, 'resnet18.safetensors'));
    writeFileSync(path.join(dir, 'cut-data.safetensors'), bytes.subarray(0, bytes.length - 64));
    await expectError(resnet('resnet18', { baseWidth: 2, weights: 'cut-data.safetensors' }, dir), 'CHECKPOINT_INVALID', 'cut-data.safetensors', 'truncated');
    writeFileSync(path.join(dir, 'cut-header.safetensors'), bytes.subarray(0, 5000));
    const error = await expectError(resnet('resnet18', { baseWidth: 2, weights: 'cut-header.safetensors' }, dir), 'CHECKPOINT_INVALID', 'cut-header.safetensors', 'exceeds the file size');
    expect(error.hint).toMatch(/truncated/);
  });
});
