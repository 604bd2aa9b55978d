import * as tf from '@tensorflow/tfjs';
import { Slots } from '@bt-platform/sdk';
import type { Backbone, Head } from '@bt-platform/sdk';
import vitPlugin from '@bt-platform/plugin-backbone-vit';
import setrPlugin from '@bt-platform/plugin-head-setr';
import { create, fakeContext, fixture, image, manifest, relativeError } from '../../fixtures/models/modelTesting.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

async function vit(name: string): Promise<Backbone> {
  const m = manifest[name];
  const options = { variant: 'custom', imageSize: m.imageSize, patchSize: m.patchSize, embedDim: m.embedDim, depth: m.depth, heads: m.heads, mlpRatio: m.mlpDim / m.embedDim, weights: `${name}.safetensors` };
  return (await create(vitPlugin, Slots.backbone, 'vit', options, fakeContext())).eval();
}

describe.each(['head_linear_p8', 'head_naive_p16', 'head_pup_p16', 'head_pup_p8', 'head_mla_p16'])('%s matches the PyTorch reference (eval)', (name) => {
  test('logits on the ViT’s features', async () => {
    const spec = manifest[name];
    const backbone = await vit(spec.vit);
    const ctx = fakeContext(new Map([[Slots.backbone.id, backbone]]));
    const head = (await create<Head>(setrPlugin, Slots.head, spec.head, { numClasses: spec.numClasses, weights: `${name}.safetensors` }, ctx)).eval();
    const x = image(1, 32, 32);
    const features = backbone.call(x);
    const logits = head.call(features, [32, 32]);
    const error = relativeError(logits, (await fixture(`${name}.expected`)).logits);
    console.log(`${name} max relative error: ${error}`);
    expect(error).toBeLessThan(1e-4);
    tf.dispose([x, logits, ...(Object.values(features).flat() as tf.Tensor[])]);
    head.dispose();
    backbone.dispose();
  });
});
