import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run } from '@bt-platform/core';
import { synthesizeVoc, VOC_CLASSES } from '../../../plugins/datamodule-voc/src/index.js';
import { writeSegmentationConfig } from './session.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'bt-test-command-'));
const bin = path.resolve('core/bin/bt-platform.js');

describe('bt-platform test on a segmentation checkpoint', () => {
  test('prints mIoU, accuracy, precision, recall, F1 and a per-class IoU table equal to the final validation', async () => {
    const root = path.join(tmp, 'voc');
    await synthesizeVoc(root, { images: 8, seed: 2, minSize: 40, maxSize: 56 });
    const config = writeSegmentationConfig(path.join(tmp, 'config'), root, {
      optimizer: { use: 'adamw', lr: 3e-3 },
      trainer: { maxEpochs: 2 },
      callbacks: [{ use: 'checkpoint' }],
    });
    const fit = await run({ configFile: config, quiet: true });
    const checkpoint = fit.summary.lastCheckpoint as string;
    expect(checkpoint).toMatch(/\.safetensors$/);

    const child = spawnSync(process.execPath, [bin, 'test', '-c', config, '--checkpoint', checkpoint, '--split', 'val'], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
    expect(child.stderr).not.toMatch(/error/);
    expect(child.status).toBe(0);
    const text = child.stdout;
    const scalar = (key: string) => Number(text.match(new RegExp(`^${key.replace('/', '\\/')}\\s+([\\d.]+)$`, 'm'))![1]);
    for (const key of ['val/loss', 'val/mIoU', 'val/accuracy', 'val/precision', 'val/recall', 'val/f1']) expect(scalar(key)).toBeGreaterThanOrEqual(0);

    // The table: one row per class present, one column per per-class metric; mIoU is their mean.
    const header = text.split('\n').find((l) => l.startsWith('class'))!;
    expect(header.trim().split(/\s+/)).toEqual(['class', 'val/IoU']);
    const rows = text.split('\n').slice(text.split('\n').indexOf(header) + 1).filter((l) => l.trim() && !l.startsWith('run directory'));
    const ious = rows.map((l) => l.trim().split(/\s+/));
    expect(ious.length).toBeGreaterThan(1);
    for (const [name] of ious) expect(VOC_CLASSES).toContain(name);
    const mean = ious.reduce((a, [, v]) => a + Number(v), 0) / ious.length;
    expect(scalar('val/mIoU')).toBeCloseTo(mean, 3);

    // The same weights on the same split: the numbers of the fit's last validation.
    const metrics = readFileSync(path.join(fit.runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).values);
    const lastVal = metrics.filter((m) => m['val/mIoU'] !== undefined).at(-1);
    expect(scalar('val/mIoU')).toBeCloseTo(lastVal['val/mIoU'], 4);
    expect(scalar('val/accuracy')).toBeCloseTo(lastVal['val/accuracy'], 4);

    // Weights of another model config: every tensor is needed, so the fix is the run's own config, not `strict: false`.
    const other = spawnSync(process.execPath, [bin, 'test', '-c', config, '--checkpoint', checkpoint, '--set', 'model.backbone.embedDim=48'], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
    expect(other.status).toBe(1);
    expect(other.stderr).toContain('error[CHECKPOINT_MISMATCH]');
    expect(other.stderr).toContain('model.backbone.embedDim');
    expect(other.stderr).not.toContain('strict: false');
  });
});
