import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { BtError, encodeSafetensors, Slots } from '@bt-platform/sdk';
import type { Backbone, Head } from '@bt-platform/sdk';
import resnetPlugin from '@bt-platform/plugin-backbone-resnet';
import vitPlugin from '@bt-platform/plugin-backbone-vit';
import deeplabPlugin from '@bt-platform/plugin-head-deeplab';
import { create, fakeContext, fixture, FIXTURES, image, manifest, relativeError } from '../../fixtures/models/modelTesting.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const spec = manifest.deeplabv3;

async function dilatedResNet(): Promise<Backbone> {
  return create(resnetPlugin, Slots.backbone, 'resnet50', { baseWidth: manifest.resnet50.baseWidth, dilated: true, weights: 'resnet50.safetensors' }, fakeContext());
}

async function deeplab(backbone: Backbone, options: Record<string, unknown>, configDir = FIXTURES): Promise<Head> {
  return create<Head>(deeplabPlugin, Slots.head, 'deeplabv3', options, fakeContext(new Map([[Slots.backbone.id, backbone]]), configDir));
}

const tiny = { numClasses: spec.numClasses, atrousRates: spec.atrousRates, channels: spec.channels };

test('DeepLabV3-ResNet-50 (dilated) matches torchvision, loading classifier.* of a torchvision checkpoint', async () => {
  const backbone = (await dilatedResNet()).eval();
  const head = (await deeplab(backbone, { ...tiny, weights: 'deeplabv3.safetensors' })).eval();
  const x = image(spec.batch, spec.imageSize, spec.imageSize);
  const features = backbone.call(x);
  const logits = head.call(features, [spec.imageSize, spec.imageSize]);
  const error = relativeError(logits, (await fixture('deeplabv3.expected')).logits);
  console.log(`deeplabv3 max relative error: ${error}`);
  expect(error).toBeLessThan(1e-4);
  tf.dispose([x, logits, features.featureMap, features.pooled]);
  head.dispose();
  backbone.dispose();
});

test('torchvision names: classifier.* without the prefix', async () => {
  const backbone = await create(resnetPlugin, Slots.backbone, 'resnet18', { baseWidth: 2 }, fakeContext());
  const names = Object.keys((await deeplab(backbone, { numClasses: 21, channels: 8 })).stateDict());
  expect(names).toEqual(
    expect.arrayContaining([
      '0.convs.0.0.weight',
      '0.convs.0.1.running_mean',
      '0.convs.3.0.weight',
      '0.convs.4.1.weight',
      '0.convs.4.2.num_batches_tracked',
      '0.project.0.weight',
      '0.project.1.bias',
      '1.weight',
      '2.running_var',
      '4.weight',
      '4.bias',
    ]),
  );
  expect(names.filter((n) => n.startsWith('0.convs.')).map((n) => n.split('.')[2])).not.toContain('5');
  backbone.dispose();
});

test('training forward and backward through a dilated ResNet-50 and the head leave no tensor behind', async () => {
  const backbone = (await create(resnetPlugin, Slots.backbone, 'resnet50', { baseWidth: 2, dilated: true }, fakeContext())).train();
  const head = (await deeplab(backbone, { ...tiny, atrousRates: [2, 3, 12] })).train();
  // 24×24: a 3×3 grid after layer2, so dilation 2 takes the space-to-batch path and 4 the centre-tap one.
  const x = image(2, 24, 24);
  const variables = [...Object.values(backbone.trainableVariables()), ...Object.values(head.trainableVariables())];
  const before = tf.memory().numTensors;
  const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(head.call(backbone.call(x), [24, 24]))) as tf.Scalar, variables);
  expect(Object.keys(grads)).toHaveLength(variables.length);
  tf.dispose([value, ...Object.values(grads)]);
  expect(tf.memory().numTensors).toBe(before);
  x.dispose();
  head.dispose();
  backbone.dispose();
});

test('runs on a ViT’s patch grid too, upsampled to the image', async () => {
  const vit = (await create(vitPlugin, Slots.backbone, 'vit', { variant: 'custom', imageSize: 32, patchSize: 8, embedDim: 16, depth: 2, heads: 2 }, fakeContext())).eval();
  const head = (await deeplab(vit, { numClasses: 4, channels: 8 })).eval();
  const x = image(1, 32, 32);
  const features = vit.call(x);
  const logits = head.call(features, [32, 32]);
  expect(logits.shape).toEqual([1, 32, 32, 4]);
  tf.dispose([x, logits, ...(Object.values(features).flat() as tf.Tensor[])]);
  vit.dispose();
});

test('training with one image is refused with the fix, as in PyTorch (the image-pooling BatchNorm sees one value)', async () => {
  const backbone = (await create(resnetPlugin, Slots.backbone, 'resnet50', { baseWidth: 2, dilated: true }, fakeContext())).eval();
  const head = (await deeplab(backbone, tiny)).train();
  const x = image(1, 32, 32);
  const features = backbone.call(x);
  expect(() => head.call(features, [32, 32])).toThrow(expect.objectContaining({ code: 'RUNTIME', hint: expect.stringMatching(/batch size of at least 2/) }));
  tf.dispose([x, features.featureMap, features.pooled]);
  backbone.dispose();
});

describe('bad weights files', () => {
  let backbone: Backbone;
  beforeAll(async () => {
    backbone = await create(resnetPlugin, Slots.backbone, 'resnet50', { baseWidth: 2, dilated: true }, fakeContext());
  });
  afterAll(() => backbone.dispose());

  test('another class count or width is a shape mismatch naming the tensors', async () => {
    const error = await deeplab(backbone, { ...tiny, numClasses: 21, weights: 'deeplabv3.safetensors' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(BtError);
    expect((error as BtError).message).toContain('4.weight expected [21,4,1,1] got [3,4,1,1]');
  });

  test('missing ASPP branches are listed; strict: false keeps the rest', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'deeplab-'));
    const state = await fixture('deeplabv3');
    const partial = Object.fromEntries(Object.entries(state).filter(([k]) => !k.startsWith('classifier.0.convs.2.')));
    writeFileSync(path.join(dir, 'partial.safetensors'), encodeSafetensors(partial));
    const error = await deeplab(backbone, { ...tiny, weights: 'partial.safetensors' }, dir).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((error as BtError).code).toBe('WEIGHTS_MISMATCH');
    expect((error as BtError).message).toContain('missing keys: 0.convs.2.0.weight');
    const head = await deeplab(backbone, { ...tiny, weights: 'partial.safetensors', strict: false }, dir);
    expect(Array.from(head.stateDict()['4.bias'].data)).toEqual(Array.from(state['classifier.4.bias'].data));
    head.dispose();
  });
});

test('checkpointActivations: the head recomputed in the backward pass gives the same gradients (dropout replayed) and BatchNorm statistics', async () => {
  const backbone = await create<Backbone>(resnetPlugin, Slots.backbone, 'resnet18', { baseWidth: 4, checkpointActivations: false }, fakeContext());
  const options = { numClasses: 3, atrousRates: [2, 6], channels: 8, dropout: 0.5 };
  const plain = await deeplab(backbone, { ...options, checkpointActivations: false });
  const recomputed = await deeplab(backbone, { ...options, checkpointActivations: true });
  const x = image(2, 32, 32);
  const features = backbone.call(x);
  const step = (head: Head) => {
    const variables = head.trainableVariables();
    const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(head.call(features, [32, 32]))) as tf.Scalar, Object.values(variables));
    value.dispose();
    const byName = new Map(Object.entries(variables).map(([name, v]) => [v.name, name]));
    const out = Object.fromEntries(Object.entries(grads).map(([id, g]) => [byName.get(id)!, Array.from(g.dataSync())]));
    tf.dispose(Object.values(grads));
    return out;
  };
  const expected = step(plain);
  const before = tf.memory().numTensors;
  const actual = step(recomputed);
  expect(tf.memory().numTensors).toBe(before);
  for (const [name, values] of Object.entries(expected)) values.forEach((v, i) => expect(Math.abs(actual[name][i] - v)).toBeLessThanOrEqual(1e-5));
  const stats = (head: Head) => Array.from(head.stateDict()['0.project.1.running_mean'].data);
  expect(stats(recomputed)).toEqual(stats(plain));
  tf.dispose([x, features.featureMap, features.pooled]);
  [plain, recomputed, backbone].forEach((m) => m.dispose());
});
