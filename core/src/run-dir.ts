import { appendFileSync, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { writeFileAtomicSync, type HistogramsEvent, type MediaEvent, type MetricsEvent } from '@bt-platform/sdk';
import { redact } from './secrets.js';

function timestamp(date = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}${p(date.getMonth() + 1)}${p(date.getDate())}-${p(date.getHours())}${p(date.getMinutes())}${p(date.getSeconds())}`;
}

/** Creates `<parent>/<name>-<timestamp>` (or `<parent>/<name>` when `exact`), never reusing an existing one. */
export function createRunDir(parent: string, name: string, exact = false): string {
  const base = path.join(parent, exact ? name : `${name}-${timestamp()}`);
  let dir = base;
  for (let i = 2; existsSync(dir); i++) dir = `${base}-${i}`;
  mkdirSync(path.join(dir, 'media'), { recursive: true });
  return dir;
}

/** The files the core keeps in every run directory: config, metrics, media index, summary. */
export class RunFiles {
  constructor(readonly dir: string) {}

  writeConfig(config: unknown): void {
    writeFileAtomicSync(path.join(this.dir, 'config.yaml'), stringify(redact(config)));
  }

  appendMetrics(event: MetricsEvent): void {
    appendFileSync(path.join(this.dir, 'metrics.jsonl'), `${JSON.stringify({ step: event.step, epoch: event.epoch, time: new Date().toISOString(), values: event.values })}\n`);
  }

  appendMedia(event: MediaEvent): void {
    const entry = { step: event.step, epoch: event.epoch, key: event.key, path: path.relative(this.dir, event.path), caption: event.caption };
    appendFileSync(path.join(this.dir, 'media.jsonl'), `${JSON.stringify(entry)}\n`);
  }

  appendHistograms(event: HistogramsEvent): void {
    appendFileSync(path.join(this.dir, 'histograms.jsonl'), `${JSON.stringify({ step: event.step, epoch: event.epoch, values: event.values })}\n`);
  }

  writeSummary(summary: Record<string, unknown>): void {
    writeFileAtomicSync(path.join(this.dir, 'summary.json'), `${JSON.stringify(redact(summary), null, 2)}\n`);
  }

  mediaPath(key: string, step: number, ext: string): string {
    const safe = key.replace(/[^\w./-]/g, '_').replace(/\.\.+/g, '_');
    const dir = path.join(this.dir, 'media', safe);
    mkdirSync(dir, { recursive: true });
    let file = path.join(dir, `step-${step}.${ext}`);
    for (let i = 2; existsSync(file); i++) file = path.join(dir, `step-${step}-${i}.${ext}`);
    return file;
  }
}
