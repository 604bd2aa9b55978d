import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run } from '@bt-platform/core';

/** A Barlow Twins run resumed from its checkpoint ends exactly where an uninterrupted run ends (weights, AdamW moments, BatchNorm statistics, schedule). */
describe('Barlow Twins resume', () => {
  it('continues identically from a checkpoint', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bt-resume-'));
    const config = (maxEpochs: number) => ({
      seed: 3,
      runDir: path.join(dir, 'runs'),
      backend: { use: 'auto' },
      data: { use: 'voc', root: path.join(dir, 'voc'), generate: { images: 16, minSize: 40, maxSize: 48 }, mode: 'barlow-twins', trainSplit: 'trainval', imageSize: 32, batchSize: 8, workers: 0 },
      model: { backbone: { use: 'vit', variant: 'custom', imageSize: 32, patchSize: 8, embedDim: 24, depth: 1, heads: 2, mlpRatio: 2 } },
      task: { use: 'barlow-twins', projectorDim: 16, lambda: 5e-2 },
      optimizer: { use: 'adamw', lr: 2e-3 },
      lrSchedule: { use: 'warmup-cosine', warmupSteps: 2, minLr: 1e-5 },
      trainer: { maxEpochs },
      callbacks: [{ use: 'checkpoint' }],
    });
    const straight = await run({ cwd: dir, quiet: true, config: config(3) });
    const first = await run({ cwd: dir, quiet: true, config: config(1) });
    const resumed = await run({ cwd: dir, quiet: true, config: config(3), resume: String(first.summary.lastCheckpoint) });
    expect(resumed.status).toBe('completed');
    expect(first.metrics['val/loss']).not.toBeCloseTo(straight.metrics['val/loss'], 3);
    for (const key of ['val/loss', 'val/diag_mean', 'val/offdiag_abs_mean']) expect(resumed.metrics[key]).toBeCloseTo(straight.metrics[key], 5);
  });
});
