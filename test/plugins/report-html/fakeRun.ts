import { mkdirSync, mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tinyPng } from '../logger-wandb/tinyPng.js';

export interface FakeRun {
  runDir: string;
  metrics: Array<{ step: number; epoch: number; time: string; values: Record<string, number> }>;
  media: Array<{ step: number; epoch: number; key: string; path: string; caption: string; width: number; height: number }>;
  summary: Record<string, unknown>;
  checkpoints: string[];
}

export const CLASSES = ['background', 'aeroplane', 'bicycle'];
/** The size of the `predictions` images: wider than the old 420 px cap, narrower than the page. */
export const WIDE = { width: 900, height: 240 };

export interface FakeRunOptions {
  /** Where to create the run directory (default: a new temporary directory). */
  dir?: string;
  /** Multiplies the validation scores, so that two fake stages differ. */
  score?: number;
  /** Leave out images, checkpoints and run-info.json. */
  bare?: boolean;
}

/**
 * A run directory in the layout the core writes: config.yaml, metrics.jsonl (scalars and per-class
 * `val/IoU/<class>`), media/ + media.jsonl, checkpoints/, summary.json, and the report plugin's run-info.json.
 */
export function fakeRun(steps = 8, options: FakeRunOptions = {}): FakeRun {
  const runDir = options.dir ?? mkdtempSync(path.join(os.tmpdir(), 'bt-report-'));
  const score = options.score ?? 1;
  mkdirSync(runDir, { recursive: true });
  writeFileSync(path.join(runDir, 'config.yaml'), 'name: tiny-report\nseed: 3\ntrainer:\n  maxEpochs: 2\nnote: "<script>alert(1)</script>"\n');
  const metrics: FakeRun['metrics'] = [];
  const media: FakeRun['media'] = [];
  const start = Date.UTC(2026, 0, 1);
  for (let step = 0; step < steps; step++) {
    const epoch = Math.floor((step * 2) / steps);
    const time = new Date(start + step * 1500).toISOString();
    metrics.push({ step, epoch, time, values: { 'train/loss': 2 / (step + 1) + 0.1 * Math.sin(step), lr: 0.1 * (1 - step / steps) } });
    if ((step + 1) % (steps / 2) !== 0) continue;
    const perClass = Object.fromEntries(CLASSES.map((c, i) => [`val/IoU/${c}`, score * (0.1 * (epoch + 1) + 0.05 * i)]));
    metrics.push({ step, epoch, time, values: { 'val/loss': 1.5 / (epoch + 1), 'val/mIoU': score * 0.2 * (epoch + 1), ...perClass } });
    if (options.bare) continue;
    for (const key of ['attention/val_0', 'cross-correlation', 'predictions']) {
      const width = key === 'predictions' ? WIDE.width : 10 + step;
      const height = key === 'predictions' ? WIDE.height : key === 'cross-correlation' ? 10 : 7 + epoch;
      const rel = path.join('media', key, `step-${step}.png`);
      mkdirSync(path.dirname(path.join(runDir, rel)), { recursive: true });
      writeFileSync(path.join(runDir, rel), tinyPng(width, height, [200, 40 * (epoch + 1), 30]));
      media.push({ step, epoch, key, path: rel, caption: `${key} epoch ${epoch}`, width, height });
    }
  }
  writeFileSync(path.join(runDir, 'metrics.jsonl'), metrics.map((m) => JSON.stringify(m)).join('\n') + '\n');
  writeFileSync(path.join(runDir, 'media.jsonl'), media.map(({ width, height, ...m }) => JSON.stringify(m)).join('\n') + '\n');
  const checkpoints: string[] = [];
  if (!options.bare) {
    mkdirSync(path.join(runDir, 'checkpoints'));
    for (const name of ['best.safetensors', 'last.safetensors']) {
      writeFileSync(path.join(runDir, 'checkpoints', name), Buffer.alloc(2048));
      checkpoints.push(path.join(runDir, 'checkpoints', name));
    }
    writeFileSync(path.join(runDir, 'run-info.json'), JSON.stringify({
      command: 'bt-platform run -c configs/tiny.yaml',
      cwd: '/work/project',
      gitCommit: '0123456789abcdef0123456789abcdef01234567',
      node: 'v20.99.0',
      os: 'Linux 6.1 (linux-x64)',
      cpu: 'Test CPU × 4',
      memoryGiB: 16,
    }));
  }
  const summary = {
    name: 'tiny-report',
    status: 'completed',
    backend: 'cpu (cpu)',
    epochs: 2,
    steps,
    durationSec: 12.5,
    ...(options.bare ? {} : { bestCheckpoint: checkpoints[0], lastCheckpoint: checkpoints[1], checkpoint: checkpoints[0] }),
    metrics: { 'val/mIoU': score * 0.4, 'val/loss': 0.75, ...Object.fromEntries(CLASSES.map((c, i) => [`val/IoU/${c}`, score * (0.2 + 0.05 * i)])) },
    runDir,
  };
  writeFileSync(path.join(runDir, 'summary.json'), JSON.stringify(summary, null, 2));
  return { runDir, metrics, media, summary, checkpoints };
}

/**
 * A finished pipeline's directory as the core leaves it: one run directory per stage and a
 * summary.json listing the stages (left out with `finished: false`, as while the pipeline runs).
 */
export function fakePipeline(stages: Record<string, number> = { finetune: 1.5, scratch: 1 }, finished = true): { dir: string; runs: Record<string, FakeRun> } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bt-report-pipe-'));
  const runs = Object.fromEntries(Object.entries(stages).map(([name, score]) => [name, fakeRun(8, { dir: path.join(dir, name), score, bare: true })]));
  // Created one after the other, a second apart, as the core runs the stages.
  Object.values(runs).forEach((run, i) => utimesSync(path.join(run.runDir, 'config.yaml'), 1e9 + i, 1e9 + i));
  if (finished) writeFileSync(path.join(dir, 'summary.json'), JSON.stringify({ stages: Object.fromEntries(Object.entries(runs).map(([n, r]) => [n, r.summary])) }));
  return { dir, runs };
}
