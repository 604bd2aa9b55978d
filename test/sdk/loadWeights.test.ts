import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { encodeSafetensors } from '@bt-platform/sdk';
import { loadWeights } from '@bt-platform/sdk/nn';
import { ToyLinear } from '@bt-platform/sdk/testing';

const file = (name: string, bytes: Uint8Array) => {
  const f = path.join(mkdtempSync(path.join(os.tmpdir(), 'bt-weights-')), name);
  writeFileSync(f, bytes);
  return f;
};

describe('loadWeights', () => {
  test('loads by name after stripping a prefix; a tensor named __proto__ is reported as unexpected', async () => {
    const layer = new ToyLinear(2, 1, 0);
    const weights = file(
      'w.safetensors',
      encodeSafetensors({
        'backbone.weight': { dtype: 'float32', shape: [1, 2], data: Float32Array.from([3, 4]) },
        'backbone.bias': { dtype: 'float32', shape: [1], data: Float32Array.from([5]) },
        'backbone.__proto__': { dtype: 'float32', shape: [1], data: Float32Array.from([6]) },
      }),
    );
    const before = tf.memory().numTensors;
    const report = await loadWeights(layer, weights, { strict: false, prefixes: ['backbone.'] });
    expect(report.loaded.sort()).toEqual(['bias', 'weight']);
    expect(report.unexpected).toEqual(['__proto__']);
    expect(Array.from(layer.weight.dataSync())).toEqual([3, 4]);
    expect(Array.from(layer.bias.dataSync())).toEqual([5]);
    expect(tf.memory().numTensors).toBe(before);
    layer.dispose();
  });

  test('a PyTorch .pth names the file and gives the converter command', async () => {
    const layer = new ToyLinear(2, 1, 0);
    const pth = file('resnet50.pth', new Uint8Array([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8]));
    await expect(loadWeights(layer, pth, { strict: true })).rejects.toMatchObject({
      code: 'CHECKPOINT_INVALID',
      message: expect.stringContaining(`${pth} is a PyTorch file (a pickle)`),
      hint: expect.stringContaining(`python3 scripts/convert-weights.py ${pth} ${pth.replace(/\.pth$/, '.safetensors')}`),
    });
    layer.dispose();
  });
});
