import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLifecycleHooks, type Log } from '@bt-platform/sdk';
import { WandbLogger } from '../../../plugins/logger-wandb/src/WandbLogger.js';
import { WandbOptions } from '../../../plugins/logger-wandb/src/WandbOptions.js';
import { tinyPng } from './tinyPng.js';

/** A fake key of wandb's length (40), distinctive enough to grep for. */
export const FAKE_KEY = 'fakekey0SECRET0do0not0leak0123456789abcd';

export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  text: string;
}

export function recordingLog(): { log: Log; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: LogLine['level']) => (text: string) => lines.push({ level, text });
  return { log: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, lines };
}

/** A config like the core's, with credentials placed where a careless logger would leak them. */
export function runConfig() {
  return {
    name: 'tiny-run',
    seed: 7,
    trainer: { maxEpochs: 2 },
    optimizer: { use: 'adamw', lr: 0.001 },
    loggers: [{ use: 'wandb', project: 'bt-test' }],
    secrets: { apiKey: FAKE_KEY, hfToken: 'x'.repeat(12) },
    note: `copied from a shell: WANDB_API_KEY=${FAKE_KEY}`,
  };
}

export interface Logged {
  /** Scalars by step, as logged through the hooks. */
  scalars: Map<number, Record<string, number>>;
  /** Images by step: key and absolute path. */
  images: Array<{ step: number; key: string; path: string; caption: string }>;
}

/**
 * Drives a logger through its hooks like the trainer: fitStart, per-step train metrics, an image
 * and val metrics at each epoch's last step (the same step), fitEnd, teardown.
 */
export async function driveLogger(logger: WandbLogger, runDir: string, steps = 6, afterStart?: () => Promise<void>, firstStep = 0): Promise<Logged> {
  const hooks = createLifecycleHooks();
  await logger.apply(hooks);
  const scalars = new Map<number, Record<string, number>>();
  const images: Logged['images'] = [];
  await hooks.fitStart.promise({ startEpoch: 0, globalStep: 0, maxEpochs: 2, maxSteps: steps, resumed: false });
  await afterStart?.();
  for (let i = 0; i < steps; i++) {
    const step = firstStep + i;
    const epoch = Math.floor((i * 2) / steps);
    const train = { 'train/loss': 1 / (step + 1), lr: 0.01 * (steps - i) };
    await hooks.metrics.promise({ epoch, step, values: train });
    scalars.set(step, { ...train });
    if ((i + 1) % (steps / 2) === 0) {
      const file = path.join(runDir, 'media', 'attention', `val_0_${step}.png`);
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, tinyPng(8 + step, 6, [step * 40, 100, 200]));
      const caption = `epoch ${epoch}`;
      await hooks.media.promise({ epoch, step, key: 'attention/val_0', path: file, caption });
      images.push({ step, key: 'attention/val_0', path: file, caption });
      const epochTrain = { 'train/loss_epoch': 0.7 / (epoch + 1) };
      await hooks.metrics.promise({ epoch, step, values: epochTrain });
      const val = { 'val/loss': 0.5 / (epoch + 1), 'val/mIoU': 0.1 * (epoch + 1) };
      await hooks.metrics.promise({ epoch, step, values: val });
      Object.assign(scalars.get(step)!, epochTrain, val);
    }
  }
  await hooks.fitEnd.promise({ epoch: 1, globalStep: steps, status: 'completed', metrics: {} });
  await hooks.teardown.promise({ status: 'completed' });
  return { scalars, images };
}

export function tempRunDir(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'bt-wandb-'));
}

export function makeLogger(runDir: string, options: Record<string, unknown>, log: Log, env: NodeJS.ProcessEnv = process.env): WandbLogger {
  return new WandbLogger(WandbOptions.parse({ project: 'bt-test', ...options }), { config: runConfig(), runDir, log }, env);
}

/** Every file under `dir`, recursively. */
export function allFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const file = path.join(dir, name);
    return statSync(file).isDirectory() ? allFiles(file) : [file];
  });
}

export function readJsonl(file: string): any[] {
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
}
