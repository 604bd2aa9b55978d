import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { jest } from '@jest/globals';
import * as tf from '@tensorflow/tfjs';
import { encodeSafetensors, Slots } from '@bt-platform/sdk';
import type { Backbone } from '@bt-platform/sdk';
import vitPlugin, { vitConfig, vitOptions } from '@bt-platform/plugin-backbone-vit';
import { create, expectError, fakeContext, fixture, FIXTURES, image, manifest, relativeError } from '../../fixtures/models/modelTesting.js';

const tiny = { variant: 'custom', imageSize: 32, patchSize: 8, embedDim: 16, depth: 4, heads: 2, mlpRatio: 2 };

beforeAll(async () => {
  await tf.setBackend('cpu');
});

async function vit(options: Record<string, unknown>, configDir = FIXTURES): Promise<Backbone> {
  return create(vitPlugin, Slots.backbone, 'vit', options, fakeContext(new Map(), configDir));
}

describe('vit backbone', () => {
  test('parameter names are timm’s', async () => {
    const model = await vit(tiny);
    const names = Object.keys(model.stateDict());
    expect(names).toEqual(
      expect.arrayContaining([
        'cls_token',
        'pos_embed',
        'patch_embed.proj.weight',
        'patch_embed.proj.bias',
        'blocks.0.norm1.weight',
        'blocks.0.attn.qkv.weight',
        'blocks.0.attn.qkv.bias',
        'blocks.0.attn.proj.weight',
        'blocks.0.mlp.fc1.weight',
        'blocks.3.mlp.fc2.bias',
        'norm.weight',
        'norm.bias',
      ]),
    );
    expect(model.stateDict()['patch_embed.proj.weight'].shape).toEqual([16, 3, 8, 8]);
    expect(model.getModule('blocks.2').constructor.name).toBe('Block');
    expect(model.kind).toBe('vit');
    expect(model.stride).toBe(8);
    expect(model.featureDim).toBe(16);
    model.dispose();
  });

  test('named variants have the timm dimensions', () => {
    const dims = (variant: string) => {
      const c = vitConfig(vitOptions.parse({ variant }));
      return [c.embedDim, c.depth, c.heads, c.patchSize, c.mlpDim, c.imageSize, c.layerNormEps, c.qkvBias];
    };
    expect(dims('tiny/16')).toEqual([192, 12, 3, 16, 768, 224, 1e-6, true]);
    expect(dims('small/16')).toEqual([384, 12, 6, 16, 1536, 224, 1e-6, true]);
    expect(dims('small/8')).toEqual([384, 12, 6, 8, 1536, 224, 1e-6, true]);
    expect(dims('base/16')).toEqual([768, 12, 12, 16, 3072, 224, 1e-6, true]);
    expect(dims('base/8')).toEqual([768, 12, 12, 8, 3072, 224, 1e-6, true]);
    expect(vitConfig(vitOptions.parse({ variant: 'base/16' })).outIndices).toEqual([2, 5, 8, 11]);
  });

  test('attention probabilities are observable at blocks.<i>.attn.probs, and cost nothing unobserved', async () => {
    const model = await vit(tiny);
    const probs = model.getModule('blocks.1.attn.probs');
    const forward = jest.spyOn(probs, 'forward');
    const x = image(2, 32, 32);
    tf.dispose(Object.values(model.call(x)).flat() as tf.Tensor[]);
    expect(forward).not.toHaveBeenCalled();
    const seen: number[][] = [];
    let rowSums: number[] = [];
    probs.forwardHook.tap('test', (e) => {
      const t = e.output as tf.Tensor;
      seen.push(t.shape);
      rowSums = Array.from(tf.tidy(() => tf.sum(t, -1)).dataSync());
    });
    tf.dispose(Object.values(model.call(x)).flat() as tf.Tensor[]);
    expect(seen).toEqual([[2, 2, 17, 17]]);
    for (const s of rowSums) expect(s).toBeCloseTo(1, 5);
    x.dispose();
    model.dispose();
  });

  test('forward and backward leave no tensor behind, at the pretraining size and resampled', async () => {
    const model = await vit({ ...tiny, dropout: 0.1, attnDropout: 0.1, dropPath: 0.1 });
    model.train();
    for (const size of [32, 48]) {
      const x = image(2, size, size);
      const before = tf.memory().numTensors;
      const { value, grads } = tf.variableGrads(() => {
        const f = model.call(x);
        return tf.add(tf.mean(tf.square(f.tokens!)), tf.mean(f.intermediates![0])) as tf.Scalar;
      }, Object.values(model.trainableVariables()));
      expect(Object.keys(grads)).toHaveLength(Object.keys(model.trainableVariables()).length);
      expect(Number.isFinite(value.dataSync()[0])).toBe(true);
      tf.dispose([value, ...Object.values(grads)]);
      expect(tf.memory().numTensors).toBe(before);
      x.dispose();
    }
    model.dispose();
  });

  test('freeze: true makes every parameter non-trainable', async () => {
    const model = await vit({ ...tiny, freeze: true });
    expect(Object.keys(model.trainableVariables())).toHaveLength(0);
    expect(model.namedParameters().length).toBeGreaterThan(0);
    model.dispose();
  });

  test('weights for another image size load with the position embedding resampled as timm does', async () => {
    const model = await vit({ ...tiny, imageSize: 48, mlpRatio: 2, weights: 'vit_p8.safetensors' });
    model.eval();
    expect(model.stateDict()['pos_embed'].shape).toEqual([1, 37, 16]);
    const x = image(2, 48, 48);
    const out = model.call(x);
    expect(relativeError(out.tokens!, (await fixture('vit_p8.expected')).tokens48)).toBeLessThan(1e-4);
    tf.dispose([x, ...(Object.values(out).flat() as tf.Tensor[])]);
    model.dispose();
  });

  test('weights saved under a prefix (a whole-model checkpoint) load into the backbone; other parts are skipped', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vit-weights-'));
    const state = await fixture('vit_p8');
    const prefixed = Object.fromEntries(Object.entries(state).map(([k, v]) => [`backbone.${k}`, v]));
    prefixed['head.proj.weight'] = { dtype: 'float32', shape: [2, 2], data: new Float32Array(4) };
    writeFileSync(path.join(dir, 'model.safetensors'), encodeSafetensors(prefixed));
    const ctx = fakeContext(new Map(), dir);
    const model = await create(vitPlugin, Slots.backbone, 'vit', { ...tiny, weights: 'model.safetensors' }, ctx);
    expect(Array.from(model.stateDict()['cls_token'].data)).toEqual(Array.from(state['cls_token'].data));
    expect(ctx.log.lines.join('\n')).toMatch(/prefix "backbone\." stripped/);
    expect(ctx.log.lines.join('\n')).toMatch(/Skipped 1 tensors of other parts: head\.proj\.weight/);
    model.dispose();
  });

  describe('bad weights files', () => {
    let dir: string;
    let state: Awaited<ReturnType<typeof fixture>>;
    beforeAll(async () => {
      dir = mkdtempSync(path.join(os.tmpdir(), 'vit-bad-'));
      state = await fixture('vit_p8');
    });
    const write = (name: string, tensors: typeof state) => writeFileSync(path.join(dir, name), encodeSafetensors(tensors));

    test('wrong names list the missing and unexpected keys; strict: false loads the rest and says what it skipped', async () => {
      const renamed = Object.fromEntries(Object.entries(state).map(([k, v]) => [k.replace('blocks.1.', 'layers.1.'), v]));
      write('renamed.safetensors', renamed);
      const error = await expectError(vit({ ...tiny, weights: 'renamed.safetensors' }, dir), 'WEIGHTS_MISMATCH', 'renamed.safetensors', 'missing keys: blocks.1.', 'unexpected keys: layers.1.');
      expect(error.hint).toMatch(/strict: false/);
      const ctx = fakeContext(new Map(), dir);
      const model = await create(vitPlugin, Slots.backbone, 'vit', { ...tiny, weights: 'renamed.safetensors', strict: false }, ctx);
      expect(Array.from(model.stateDict()['blocks.0.attn.qkv.bias'].data)).toEqual(Array.from(state['blocks.0.attn.qkv.bias'].data));
      expect(ctx.log.lines.join('\n')).toMatch(/not loaded from .*missing blocks\.1\.norm1\.weight/);
      model.dispose();
    });

    test('wrong shapes name the tensor and both shapes', async () => {
      write('shapes.safetensors', state);
      await expectError(vit({ ...tiny, embedDim: 32, weights: 'shapes.safetensors' }, dir), 'WEIGHTS_MISMATCH', 'shape mismatches: cls_token expected [1,1,32] got [1,1,16]');
      await expectError(vit({ ...tiny, patchSize: 16, weights: 'shapes.safetensors' }, dir), 'WEIGHTS_MISMATCH', 'patch_embed.proj.weight expected [16,3,16,16] got [16,3,8,8]');
    });

    test('a truncated file says so', async () => {
      const bytes = readFileSync(path.join(FIXTURES, 'vit_p8.safetensors'));
      writeFileSync(path.join(dir, 'truncated.safetensors'), bytes.subarray(0, bytes.length - 100));
      await expectError(vit({ ...tiny, weights: 'truncated.safetensors' }, dir), 'CHECKPOINT_INVALID', 'truncated.safetensors', 'truncated');
    });

    test('a missing file names the path', async () => {
      await expectError(vit({ ...tiny, weights: 'nowhere.safetensors' }, dir), 'CHECKPOINT_INVALID', path.join(dir, 'nowhere.safetensors'));
    });
  });

  test('configuration mistakes are ConfigErrors with the fix', async () => {
    await expectError(vit({ variant: 'small/16', depth: 2 }), 'CONFIG_INVALID', 'depth', 'small/16');
    await expectError(vit({ ...tiny, imageSize: 30 }), 'CONFIG_INVALID', 'imageSize 30', 'patchSize 8');
    await expectError(vit({ ...tiny, heads: 3 }), 'CONFIG_INVALID', 'heads 3');
    await expectError(vit({ ...tiny, outIndices: [1, 9] }), 'CONFIG_INVALID', 'outIndices contains 9');
  });
});

describe('vit-pytorch backbone', () => {
  test('is the same model under vit-pytorch’s parameterisation, with timm names', async () => {
    const model = await create(vitPlugin, Slots.backbone, 'vit-pytorch', { imageSize: 32, patchSize: 8, dim: 16, depth: 2, heads: 2, mlpDim: 24, dropout: 0.1 }, fakeContext());
    const state = model.stateDict();
    expect(state['blocks.1.mlp.fc1.weight'].shape).toEqual([24, 16]);
    expect(state['blocks.0.attn.qkv.bias']).toBeUndefined();
    const x = image(1, 32, 32);
    const out = model.call(x);
    expect(out.tokens!.shape).toEqual([1, 17, 16]);
    expect(out.intermediates).toHaveLength(4);
    tf.dispose([x, ...(Object.values(out).flat() as tf.Tensor[])]);
    model.dispose();
  });
});

test('manifest describes the fixtures the tests use', () => {
  expect(manifest.vit_p8.patchSize).toBe(8);
});
