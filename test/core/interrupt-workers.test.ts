import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readCheckpoint } from '@bt-platform/sdk';

const bin = path.resolve('core/bin/bt-platform.js');

/** A tiny segmentation run on a generated VOC-format set, its samples prepared by a worker thread. */
const config = `
name: ctrl-c
seed: 0
runDir: runs
backend: { use: cpu }
data:
  use: voc
  root: voc
  mode: segmentation
  generate: { images: 32, minSize: 24, maxSize: 32 }
  imageSize: 16
  batchSize: 2
  workers: 1
model:
  backbone: { use: vit, variant: custom, imageSize: 16, patchSize: 8, embedDim: 16, depth: 1, heads: 2, mlpRatio: 2 }
  head: { use: linear, numClasses: 21 }
task: { use: segmentation }
optimizer: { use: adamw, lr: 1.0e-3 }
trainer: { maxEpochs: 50 }
callbacks: [{ use: checkpoint, monitor: val/mIoU, mode: max }]
`;

test('Ctrl-C with data workers stops after the current batch: exit 130, last checkpoint, status interrupted', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bt-ctrl-c-'));
  writeFileSync(path.join(dir, 'config.yaml'), config);
  // Its own process group, signalled as a whole: what a terminal's Ctrl-C does.
  const child = spawn(process.execPath, [bin, 'run', '-c', 'config.yaml'], { cwd: dir, detached: true, env: { ...process.env, NODE_OPTIONS: '' } });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  let runDir: string | undefined;
  const poll = setInterval(() => {
    runDir ??= output.match(/run directory: (\S+)/)?.[1];
    if (runDir && existsSync(path.join(runDir, 'metrics.jsonl'))) {
      clearInterval(poll);
      process.kill(-child.pid!, 'SIGINT');
    }
  }, 20);
  // A bound on the wait, not a timing assertion: a run that ignores the interrupt would train 400 steps.
  const guard = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 90_000);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearInterval(poll);
  clearTimeout(guard);

  expect({ code, output }).toEqual({ code: 130, output: expect.not.stringContaining('error[') });
  const summary = JSON.parse(readFileSync(path.join(runDir!, 'summary.json'), 'utf8'));
  expect(summary.status).toBe('interrupted');
  const last = await readCheckpoint(path.join(runDir!, 'checkpoints', 'last.safetensors'));
  // Stopped in the first epoch (8 batches), not at its end or later.
  expect(last.trainer.epoch).toBe(0);
  expect(last.trainer.batchInEpoch).toBeLessThan(8);
  expect(last.trainer.globalStep).toBe(summary.steps);
}, 120_000);
