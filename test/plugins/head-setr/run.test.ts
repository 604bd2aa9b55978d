import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run } from '@bt-platform/core';

/**
 * The reference's model combinations through the real core: the same config with only
 * `model.backbone` and `model.head` changed, on a tiny synthetic VOC-format set.
 */
const dir = mkdtempSync(path.join(os.tmpdir(), 'models-run-'));
const vit = { use: 'vit', variant: 'custom', imageSize: 32, patchSize: 8, embedDim: 16, depth: 2, heads: 2, mlpRatio: 2 };

test.each([
  ['vit', 'linear', vit, 32],
  ['vit', 'setr-naive', vit, 32],
  ['vit-pytorch', 'setr-pup', { use: 'vit-pytorch', imageSize: 32, patchSize: 8, dim: 16, depth: 2, heads: 2, mlpDim: 32 }, 32],
  ['vit', 'setr-mla', vit, 32],
  ['resnet50', 'deeplabv3', { use: 'resnet50', dilated: true, baseWidth: 2 }, 16],
])('%s + %s: one epoch of segmentation fine-tuning from the config alone', async (_b, head, backbone, imageSize) => {
  const result = await run({
    config: {
      name: `models-${head}`,
      seed: 0,
      runDir: path.join(dir, 'runs'),
      backend: { use: 'cpu' },
      data: { use: 'voc', root: path.join(dir, 'voc'), generate: { images: 6, minSize: 40, maxSize: 48 }, mode: 'segmentation', imageSize, batchSize: 3, workers: 0 },
      model: { backbone, head: { use: head, ...(head === 'deeplabv3' ? { channels: 8 } : {}) } },
      task: { use: 'segmentation' },
      optimizer: { use: 'adamw', lr: 1e-3 },
      trainer: { maxEpochs: 1 },
    },
    quiet: true,
  });
  expect(result.status).toBe('completed');
  expect(Number.isFinite(result.metrics['train/loss'])).toBe(true);
  expect(result.metrics['val/mIoU']).toBeGreaterThanOrEqual(0);
});
