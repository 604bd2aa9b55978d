import { appendFileSync, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import {
  BtError,
  ConfigError,
  describeDisk,
  describeFsError,
  ensureDirSync,
  errnoCode,
  fileWriteError,
  isDiskFull,
  writeFileAtomicSync,
  type HistogramsEvent,
  type MediaEvent,
  type MetricsEvent,
} from '@bt-platform/sdk';
import { redact } from './secrets.js';

function timestamp(date = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}${p(date.getMonth() + 1)}${p(date.getDate())}-${p(date.getHours())}${p(date.getMinutes())}${p(date.getSeconds())}`;
}

/** Suffixes `-2` … tried when the name is taken; a bound, so that no file system can make this loop forever. */
const MAX_SUFFIX = 1000;

/**
 * Creates `<parent>/<name>-<timestamp>` (or `<parent>/<name>` when `exact`), never reusing an
 * existing one: `mkdir` of the leaf fails when another process took the name first (even at the
 * same instant), and the next suffix is tried. `origin` names the setting in errors, e.g.
 * `config.yaml: runDir`.
 */
export function createRunDir(parent: string, name: string, exact = false, origin = 'runDir'): string {
  const base = path.join(parent, exact ? name : `${name}-${timestamp()}`);
  try {
    ensureDirSync(path.dirname(base));
  } catch (error) {
    throw runDirError(path.dirname(base), error, origin);
  }
  for (let i = 1; i <= MAX_SUFFIX; i++) {
    const dir = i === 1 ? base : `${base}-${i}`;
    try {
      mkdirSync(dir);
    } catch (error) {
      if (errnoCode(error) === 'EEXIST') continue;
      throw runDirError(dir, error, origin);
    }
    try {
      mkdirSync(path.join(dir, 'media'));
    } catch (error) {
      throw runDirError(path.join(dir, 'media'), error, origin);
    }
    return dir;
  }
  throw new ConfigError('CONFIG_INVALID', `${origin}: ${base} and ${base}-2 … ${base}-${MAX_SUFFIX} all exist already.`, {
    hint: 'Remove old run directories there, or change `name` or `runDir`.',
  });
}

/**
 * A run directory that cannot be created: a full disk is a runtime failure (exit 1); anything else
 * (a file in the path, no permission, a read-only or virtual file system) means `runDir` points at
 * a place that cannot hold runs, a config problem (exit 2).
 */
function runDirError(dir: string, error: unknown, origin: string): BtError {
  if (isDiskFull(error)) {
    return new BtError('FILE_WRITE_FAILED', `Cannot create the run directory ${dir}: ${describeFsError(error)}; ${describeDisk(dir)}.`, {
      hint: 'Free space on that disk (old runs\' checkpoints are the largest files), or set `runDir` to a disk with room.',
      cause: error,
    });
  }
  // mkdir's ENOENT with an existing parent: a file system that refuses new directories there.
  const cause = errnoCode(error) === 'ENOENT' ? 'the file system there does not allow new directories (ENOENT)' : describeFsError(error);
  const failed = (error as NodeJS.ErrnoException).path ?? dir;
  return new ConfigError('CONFIG_INVALID', `${origin}: cannot create ${failed}: ${cause}.`, {
    hint: 'Set `runDir` (in the config, or with --set runDir=PATH) to a directory you can write to, e.g. runs.',
    cause: error,
  });
}

/** The files the core keeps in every run directory: config, metrics, media index, summary. */
export class RunFiles {
  constructor(readonly dir: string) {}

  writeConfig(config: unknown): void {
    writeFileAtomicSync(path.join(this.dir, 'config.yaml'), stringify(redact(config)));
  }

  appendMetrics(event: MetricsEvent): void {
    this.append('metrics.jsonl', `${JSON.stringify({ step: event.step, epoch: event.epoch, time: new Date().toISOString(), values: event.values })}\n`);
  }

  appendMedia(event: MediaEvent): void {
    const entry = { step: event.step, epoch: event.epoch, key: event.key, path: path.relative(this.dir, event.path), caption: event.caption };
    this.append('media.jsonl', `${JSON.stringify(entry)}\n`);
  }

  appendHistograms(event: HistogramsEvent): void {
    this.append('histograms.jsonl', `${JSON.stringify({ step: event.step, epoch: event.epoch, values: event.values })}\n`);
  }

  writeSummary(summary: Record<string, unknown>): void {
    writeFileAtomicSync(path.join(this.dir, 'summary.json'), `${JSON.stringify(redact(summary), null, 2)}\n`);
  }

  mediaPath(key: string, step: number, ext: string): string {
    const safe = key.replace(/[^\w./-]/g, '_').replace(/\.\.+/g, '_');
    const dir = path.join(this.dir, 'media', safe);
    try {
      ensureDirSync(dir);
    } catch (error) {
      throw fileWriteError(dir, error);
    }
    let file = path.join(dir, `step-${step}.${ext}`);
    for (let i = 2; existsSync(file); i++) file = path.join(dir, `step-${step}-${i}.${ext}`);
    return file;
  }

  private append(name: string, line: string): void {
    const file = path.join(this.dir, name);
    try {
      appendFileSync(file, line);
    } catch (error) {
      throw fileWriteError(file, error);
    }
  }
}
