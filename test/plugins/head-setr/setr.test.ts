import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { BtError, ConfigError, encodeSafetensors, Slots } from '@bt-platform/sdk';
import type { Backbone, DataModule, Head } from '@bt-platform/sdk';
import vitPlugin from '@bt-platform/plugin-backbone-vit';
import resnetPlugin from '@bt-platform/plugin-backbone-resnet';
import setrPlugin from '@bt-platform/plugin-head-setr';
import { components, create, fakeContext, fixture, FIXTURES, image } from '../../fixtures/models/modelTesting.js';

const tinyVit = (patchSize: number) => ({ variant: 'custom', imageSize: 32, patchSize, embedDim: 16, depth: 4, heads: 2, mlpRatio: 2 });

beforeAll(async () => {
  await tf.setBackend('cpu');
});

async function setup(head: string, options: Record<string, unknown>, backbone: Backbone, extra: Array<[symbol, unknown]> = [], configDir = FIXTURES) {
  const ctx = fakeContext(new Map<symbol, unknown>([[Slots.backbone.id, backbone], ...extra]), configDir);
  return create<Head>(setrPlugin, Slots.head, head, options, ctx);
}

test('registers linear, setr-naive, setr-pup and setr-mla heads', () => {
  expect([...components(setrPlugin).keys()]).toEqual(['head:linear', 'head:setr-naive', 'head:setr-pup', 'head:setr-mla']);
});

test('parameter names follow the reference modules', async () => {
  const backbone = await create(vitPlugin, Slots.backbone, 'vit', tinyVit(8), fakeContext());
  const names = async (head: string) => Object.keys((await setup(head, { numClasses: 3 }, backbone)).stateDict());
  expect(await names('linear')).toEqual(['proj.weight', 'proj.bias']);
  expect(await names('setr-naive')).toEqual(expect.arrayContaining(['conv1.weight', 'bn1.running_var', 'conv2.bias']));
  // Patch 8: three upsamplings, so four convolutions at Sequential indices 0, 2, 4, 6.
  expect((await names('setr-pup')).filter((n) => n.endsWith('weight'))).toEqual(['decode_net.0.weight', 'decode_net.2.weight', 'decode_net.4.weight', 'decode_net.6.weight']);
  expect(await names('setr-mla')).toEqual(expect.arrayContaining(['net1_in.layer_1.weight', 'net4_intmd.layer_intmd.bias', 'net2_out.layer_3.weight', 'output_net.conv_1.weight']));
  backbone.dispose();
});

test.each(['linear', 'setr-naive', 'setr-pup', 'setr-mla'])('%s: training forward and backward through backbone and head leave no tensor behind', async (name) => {
  const backbone = (await create(vitPlugin, Slots.backbone, 'vit', tinyVit(16), fakeContext())).train();
  const head = (await setup(name, { numClasses: 3 }, backbone)).train();
  const x = image(2, 32, 32);
  const variables = [...Object.values(backbone.trainableVariables()), ...Object.values(head.trainableVariables())];
  const before = tf.memory().numTensors;
  const { value, grads } = tf.variableGrads(() => {
    const logits = head.call(backbone.call(x), [32, 32]);
    expect(logits.shape).toEqual([2, 32, 32, 3]);
    return tf.mean(tf.square(logits)) as tf.Scalar;
  }, variables);
  // SETR-MLA reads the blocks before the final norm, so only norm.weight and norm.bias get no gradient.
  const unused = variables.filter((v) => !(v.name in grads)).map((v) => backbone.namedParameters().find(([, p]) => p === v)?.[0]);
  expect(unused).toEqual(name === 'setr-mla' ? ['norm.weight', 'norm.bias'] : []);
  tf.dispose([value, ...Object.values(grads)]);
  expect(tf.memory().numTensors).toBe(before);
  x.dispose();
  head.dispose();
  backbone.dispose();
});

test('numClasses defaults to the datamodule’s, else 21', async () => {
  const backbone = await create(vitPlugin, Slots.backbone, 'vit', tinyVit(16), fakeContext());
  const datamodule = { numClasses: 5 } as DataModule;
  const fromData = await setup('setr-naive', {}, backbone, [[Slots.datamodule.id, datamodule]]);
  expect(fromData.stateDict()['conv2.bias'].shape).toEqual([5]);
  const fallback = await setup('setr-naive', {}, backbone);
  expect(fallback.stateDict()['conv2.bias'].shape).toEqual([21]);
  const given = await setup('setr-naive', { numClasses: 4 }, backbone, [[Slots.datamodule.id, datamodule]]);
  expect(given.stateDict()['conv2.bias'].shape).toEqual([4]);
  backbone.dispose();
});

test('heads that need ViT features on a ResNet are ConfigErrors naming both components and the fix', async () => {
  const resnet = await create(resnetPlugin, Slots.backbone, 'resnet18', { baseWidth: 2 }, fakeContext());
  const config = { model: { backbone: { use: 'resnet18' } } };
  for (const [head, fragment] of [
    ['setr-mla', 'intermediate'],
    ['linear', 'patch tokens'],
    ['setr-pup', 'stride is 32'],
  ]) {
    const ctx = { ...fakeContext(new Map([[Slots.backbone.id, resnet]])), config };
    const error = await create(setrPlugin, Slots.head, head, {}, ctx).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toContain(`model.head "${head}" cannot run on model.backbone "resnet18"`);
    expect((error as ConfigError).message).toContain(fragment);
    expect((error as ConfigError).hint).toMatch(/deeplabv3|ViT/);
  }
  // SETR-Naive only needs a feature map, so a CNN works.
  const naive = await setup('setr-naive', { numClasses: 2 }, resnet);
  const x = image(1, 64, 64);
  const logits = naive.eval().call(resnet.eval().call(x), [64, 64]);
  expect(logits.shape).toEqual([1, 64, 64, 2]);
  tf.dispose([x, logits]);
  resnet.dispose();
});

test('bad head weights: another class count is a shape mismatch naming the tensors', async () => {
  const backbone = await create(vitPlugin, Slots.backbone, 'vit', tinyVit(16), fakeContext());
  const error = await setup('setr-pup', { numClasses: 5, weights: 'head_pup_p16.safetensors' }, backbone).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BtError);
  expect((error as BtError).code).toBe('WEIGHTS_MISMATCH');
  expect((error as BtError).message).toContain('decode_net.8.weight expected [5,4,1,1] got [3,4,1,1]');
  // A whole-model file with the head under `head.` loads.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'setr-'));
  const state = await fixture('head_pup_p16');
  writeFileSync(path.join(dir, 'model.safetensors'), encodeSafetensors(Object.fromEntries(Object.entries(state).map(([k, v]) => [`head.${k}`, v]))));
  const head = await setup('setr-pup', { numClasses: 3, weights: 'model.safetensors' }, backbone, [], dir);
  expect(Array.from(head.stateDict()['decode_net.8.bias'].data)).toEqual(Array.from(state['decode_net.8.bias'].data));
  backbone.dispose();
});
