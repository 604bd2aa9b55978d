import path from 'node:path';
import { run } from '@bt-platform/core';
import { tempDir } from './vocTestKit.js';

describe('voc through the core', () => {
  it('generates its data on first use and feeds a segmentation fit, reporting the loader wait in the summary', async () => {
    const dir = tempDir();
    const result = await run({
      cwd: dir,
      quiet: true,
      command: 'fit',
      config: {
        name: 'voc-core',
        seed: 0,
        runDir: path.join(dir, 'runs'),
        backend: { use: 'cpu' },
        data: { use: 'voc', root: 'voc', mode: 'segmentation', generate: { images: 8, minSize: 24, maxSize: 32 }, imageSize: 16, batchSize: 2, workers: 1 },
        model: {
          backbone: { use: 'vit', variant: 'custom', imageSize: 16, patchSize: 8, embedDim: 16, depth: 1, heads: 2, mlpRatio: 2 },
          head: { use: 'linear', numClasses: 21 },
        },
        task: { use: 'segmentation' },
        optimizer: { use: 'adamw', lr: 1e-3 },
        trainer: { maxEpochs: 1 },
      },
    });
    expect(result.status).toBe('completed');
    expect(result.metrics['val/mIoU']).toBeGreaterThanOrEqual(0);
    expect(result.summary['data/train_wait_fraction']).toBeGreaterThan(0);
  });
});
