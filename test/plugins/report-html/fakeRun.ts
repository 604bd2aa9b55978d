import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tinyPng } from '../logger-wandb/tinyPng.js';

export interface FakeRun {
  runDir: string;
  metrics: Array<{ step: number; epoch: number; values: Record<string, number> }>;
  media: Array<{ step: number; epoch: number; key: string; path: string; caption: string; width: number; height: number }>;
  summary: Record<string, unknown>;
}

/** A run directory in the layout the core writes: config.yaml, metrics.jsonl, media/ + media.jsonl, summary.json. */
export function fakeRun(steps = 8): FakeRun {
  const runDir = mkdtempSync(path.join(os.tmpdir(), 'bt-report-'));
  writeFileSync(path.join(runDir, 'config.yaml'), 'name: tiny-report\nseed: 3\ntrainer:\n  maxEpochs: 2\nnote: "<script>alert(1)</script>"\n');
  const metrics: FakeRun['metrics'] = [];
  const media: FakeRun['media'] = [];
  for (let step = 0; step < steps; step++) {
    const epoch = Math.floor((step * 2) / steps);
    metrics.push({ step, epoch, values: { 'train/loss': 2 / (step + 1) + 0.1 * Math.sin(step), lr: 0.1 * (1 - step / steps) } });
    if ((step + 1) % (steps / 2) === 0) {
      metrics.push({ step, epoch, values: { 'val/loss': 1.5 / (epoch + 1), 'val/mIoU': 0.2 * (epoch + 1) } });
      for (const key of ['attention/val_0', 'cross-correlation']) {
        const width = 10 + step;
        const height = key === 'cross-correlation' ? 10 : 7 + epoch;
        const rel = path.join('media', key, `step-${step}.png`);
        mkdirSync(path.dirname(path.join(runDir, rel)), { recursive: true });
        writeFileSync(path.join(runDir, rel), tinyPng(width, height, [200, 40 * (epoch + 1), 30]));
        media.push({ step, epoch, key, path: rel, caption: `${key} epoch ${epoch}`, width, height });
      }
    }
  }
  writeFileSync(path.join(runDir, 'metrics.jsonl'), metrics.map((m) => JSON.stringify({ ...m, time: new Date(0).toISOString() })).join('\n') + '\n');
  writeFileSync(path.join(runDir, 'media.jsonl'), media.map(({ width, height, ...m }) => JSON.stringify(m)).join('\n') + '\n');
  const summary = { name: 'tiny-report', status: 'completed', steps, metrics: { 'val/mIoU': 0.4, 'val/loss': 0.75 } };
  writeFileSync(path.join(runDir, 'summary.json'), JSON.stringify(summary, null, 2));
  return { runDir, metrics, media, summary };
}
