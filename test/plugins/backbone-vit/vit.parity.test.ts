import * as tf from '@tensorflow/tfjs';
import { Slots } from '@bt-platform/sdk';
import type { Backbone } from '@bt-platform/sdk';
import vitPlugin from '@bt-platform/plugin-backbone-vit';
import { create, fakeContext, fixture, image, manifest, relativeError } from '../../fixtures/models/modelTesting.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function customOptions(name: string, extra: Record<string, unknown> = {}) {
  const m = manifest[name];
  return { variant: 'custom', imageSize: m.imageSize, patchSize: m.patchSize, embedDim: m.embedDim, depth: m.depth, heads: m.heads, mlpRatio: m.mlpDim / m.embedDim, weights: `${name}.safetensors`, ...extra };
}

describe.each(['vit_p8', 'vit_p16'])('ViT parity with the PyTorch reference (%s)', (name) => {
  let vit: Backbone;
  let expected: Awaited<ReturnType<typeof fixture>>;

  beforeAll(async () => {
    vit = await create(vitPlugin, Slots.backbone, 'vit', customOptions(name), fakeContext());
    vit.eval();
    expected = await fixture(`${name}.expected`);
  });
  afterAll(() => vit.dispose());

  test('tokens, CLS, patch grid, intermediates and last-block attention at the pretraining size', () => {
    const x = image(2, 32, 32);
    let attn: tf.Tensor | undefined;
    const last = vit.getModule(`blocks.${manifest[name].depth - 1}.attn.probs`);
    last.forwardHook.tap('test', (e) => void (attn = tf.keep((e.output as tf.Tensor).clone())));
    const out = vit.call(x);
    const errors = {
      tokens: relativeError(out.tokens!, expected.tokens32),
      attn: relativeError(attn!, expected.attn32),
      ...Object.fromEntries(out.intermediates!.map((t, i) => [`inter${i}`, relativeError(t, expected[`inter32.${i}`])])),
    };
    const grid = 32 / manifest[name].patchSize;
    const tokens = expected.tokens32;
    expect(out.pooled.shape).toEqual([2, 16]);
    expect(Array.from(out.pooled.dataSync())[17]).toBeCloseTo(tokens.data[tokens.shape[1] * 16 + 1], 4);
    expect(out.featureMap.shape).toEqual([2, grid, grid, 16]);
    // featureMap is the patch tokens (CLS dropped) on the grid.
    expect(relativeError(tf.reshape(out.featureMap, [2, grid * grid, 16]), { ...tokens, shape: [2, grid * grid, 16], data: sliceTokens(tokens.data as Float32Array, 2, grid * grid + 1, 16) })).toBeLessThan(1e-4);
    expect(Math.max(...Object.values(errors))).toBeLessThan(1e-4);
    console.log(`${name} max relative error @32: ${JSON.stringify(errors)}`);
    tf.dispose([x, attn!, out.pooled, out.tokens!, out.featureMap, ...out.intermediates!]);
    last.forwardHook.taps.length = 0;
  });

  test('globalPool avg: pooled is the mean of the patch tokens (timm global_pool=avg, fc_norm=False), CLS left out', async () => {
    const avgVit = await create(vitPlugin, Slots.backbone, 'vit', customOptions(name, { globalPool: 'avg' }), fakeContext());
    avgVit.eval();
    const x = image(2, 32, 32);
    const out = avgVit.call(x);
    const n = (32 / manifest[name].patchSize) ** 2;
    const patches = sliceTokens(expected.tokens32.data as Float32Array, 2, n + 1, 16);
    const mean = new Float32Array(2 * 16);
    for (let i = 0; i < 2; i++) for (let t = 0; t < n; t++) for (let c = 0; c < 16; c++) mean[i * 16 + c] += patches[(i * n + t) * 16 + c] / n;
    expect(out.pooled.shape).toEqual([2, 16]);
    expect(relativeError(out.pooled, { ...expected.tokens32, shape: [2, 16], data: mean })).toBeLessThan(1e-4);
    // The tokens themselves do not depend on the pooling.
    expect(relativeError(out.tokens!, expected.tokens32)).toBeLessThan(1e-4);
    tf.dispose([x, ...(Object.values(out).flat() as tf.Tensor[])]);
    avgVit.dispose();
  });

  test('position embedding resampled for 48×48 and 32×48 inputs (timm bicubic with antialias, and plain bicubic)', async () => {
    const x = image(2, 48, 48);
    const out = vit.call(x);
    const aa = relativeError(out.tokens!, expected.tokens48);
    const wide = image(2, 32, 48);
    const wideOut = vit.call(wide);
    const wideErr = relativeError(wideOut.tokens!, expected.tokens32x48);
    tf.dispose([wide, ...(Object.values(wideOut).flat() as tf.Tensor[])]);
    const plainVit = await create(vitPlugin, Slots.backbone, 'vit', customOptions(name, { posEmbedInterpolation: 'bicubic' }), fakeContext());
    plainVit.eval();
    const plain = plainVit.call(x);
    const plainErr = relativeError(plain.tokens!, expected.tokens48_plain);
    console.log(`${name} max relative error @48: antialias ${aa}, plain ${plainErr}; @32×48: ${wideErr}`);
    expect(aa).toBeLessThan(1e-4);
    expect(wideErr).toBeLessThan(1e-4);
    expect(plainErr).toBeLessThan(1e-4);
    // The two resamplings differ, so each comparison can tell them apart.
    expect(relativeError(plain.tokens!, expected.tokens48)).toBeGreaterThan(1e-3);
    tf.dispose([x, ...Object.values(out).flat(), ...Object.values(plain).flat()] as tf.Tensor[]);
    plainVit.dispose();
  });
});

function sliceTokens(data: Float32Array, b: number, n: number, d: number): Float32Array {
  const out = new Float32Array(b * (n - 1) * d);
  for (let i = 0; i < b; i++) out.set(data.subarray((i * n + 1) * d, (i + 1) * n * d), i * (n - 1) * d);
  return out;
}
