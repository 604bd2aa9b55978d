import * as tf from '@tensorflow/tfjs';
import { Slots } from '@bt-platform/sdk';
import type { Backbone, ComponentDefinition, Head, PluginDefinition } from '@bt-platform/sdk';
import vitPlugin from '@bt-platform/plugin-backbone-vit';
import resnetPlugin from '@bt-platform/plugin-backbone-resnet';
import setrPlugin from '@bt-platform/plugin-head-setr';
import deeplabPlugin from '@bt-platform/plugin-head-deeplab';
import { components, fakeContext, image } from '../../fixtures/models/modelTesting.js';

/** Resolves `model.backbone` and `model.head` by their `use` names only, as the core does from a config file. */
async function buildModel(model: { backbone: Record<string, unknown>; head: Record<string, unknown> }) {
  const registry = new Map<string, ComponentDefinition<unknown>>();
  for (const plugin of [vitPlugin, resnetPlugin, setrPlugin, deeplabPlugin] as PluginDefinition[]) for (const [key, def] of components(plugin)) registry.set(key, def);
  const make = async <T>(slot: 'backbone' | 'head', { use, ...options }: Record<string, unknown>, provided: Map<symbol, unknown>) => {
    const def = registry.get(`${slot}:${use}`);
    if (!def) throw new Error(`unknown ${slot} ${String(use)}`);
    const ctx = { ...fakeContext(provided), config: { model } };
    return (await def.create(def.options!.parse(options), ctx)) as T;
  };
  const backbone = await make<Backbone>('backbone', model.backbone, new Map());
  const head = await make<Head>('head', model.head, new Map([[Slots.backbone.id, backbone]]));
  return { backbone, head };
}

const tinyVit = { use: 'vit', variant: 'custom', imageSize: 32, patchSize: 16, embedDim: 16, depth: 4, heads: 2, mlpRatio: 2 };

beforeAll(async () => {
  await tf.setBackend('cpu');
});

test.each([
  ['vit', 'linear', tinyVit, { use: 'linear', numClasses: 3 }],
  ['vit', 'setr-naive', tinyVit, { use: 'setr-naive', numClasses: 3 }],
  ['vit', 'setr-pup', { ...tinyVit, patchSize: 8 }, { use: 'setr-pup', numClasses: 3 }],
  ['vit', 'setr-mla', tinyVit, { use: 'setr-mla', numClasses: 3 }],
  ['vit-pytorch', 'setr-pup', { use: 'vit-pytorch', imageSize: 32, patchSize: 16, dim: 16, depth: 2, heads: 2, mlpDim: 32 }, { use: 'setr-pup', numClasses: 3 }],
  ['resnet50 (dilated)', 'deeplabv3', { use: 'resnet50', baseWidth: 2, dilated: true }, { use: 'deeplabv3', numClasses: 3, channels: 8 }, 16],
])('%s + %s: built from the config by name, trains one step', async (_b, _h, backboneConfig, headConfig, size = 32) => {
  const { backbone, head } = await buildModel({ backbone: backboneConfig, head: headConfig });
  backbone.train();
  head.train();
  const x = image(2, size, size);
  const variables = [...Object.values(backbone.trainableVariables()), ...Object.values(head.trainableVariables())];
  const { value, grads } = tf.variableGrads(() => {
    const logits = head.call(backbone.call(x), [size, size]);
    expect(logits.shape).toEqual([2, size, size, 3]);
    return tf.mean(tf.square(logits)) as tf.Scalar;
  }, variables);
  expect(Number.isFinite(value.dataSync()[0])).toBe(true);
  expect(Object.keys(grads).length).toBeGreaterThan(variables.length - 3);
  tf.dispose([x, value, ...Object.values(grads)]);
  head.dispose();
  backbone.dispose();
});
