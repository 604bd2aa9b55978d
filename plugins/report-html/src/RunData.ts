import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { BtError } from '@bt-platform/sdk';
import { RUN_INFO_FILE, type RunInfo } from './RunInfo.js';

/** One line of `<runDir>/metrics.jsonl`, as the core writes it. */
export interface MetricsLine {
  step: number;
  epoch: number;
  time?: string;
  values: Record<string, number | null>;
}

/** One line of `<runDir>/media.jsonl`; `path` is relative to the run directory. */
export interface MediaLine {
  step: number;
  epoch: number;
  key: string;
  path: string;
  caption?: string;
}

/** A checkpoint file of the run; `tags` say which the checkpoint plugin reported (`best`, `last`). */
export interface CheckpointFile {
  file: string;
  bytes: number;
  tags: string[];
}

/** What a report is made of: the run directory's files, read as they are. */
export interface RunData {
  runDir: string;
  /** The resolved config as the core wrote it (config.yaml), or undefined when absent. */
  configText?: string;
  metrics: MetricsLine[];
  media: MediaLine[];
  summary?: Record<string, unknown>;
  /** Command line, git commit and system, as recorded at the start of the run. */
  info?: RunInfo;
  checkpoints: CheckpointFile[];
  /** Problems met while reading (a torn line, a missing file); shown in the report. */
  notes: string[];
}

const RUN_FILES = ['config.yaml', 'metrics.jsonl', 'media.jsonl', 'summary.json'];

/** Whether `dir` holds any of the files the core writes into a run directory. */
export function isRunDir(dir: string): boolean {
  return RUN_FILES.some((f) => existsSync(path.join(dir, f)));
}

function readLines<T>(file: string, notes: string[]): T[] {
  if (!existsSync(file)) return [];
  const out: T[] = [];
  readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    try {
      out.push(JSON.parse(line) as T);
    } catch {
      notes.push(`${path.basename(file)} line ${i + 1} is not JSON (skipped)`);
    }
  });
  return out;
}

/** A JSON object file, or undefined when absent; a broken one is noted. */
export function readJson(file: string, notes: string[]): Record<string, unknown> | undefined {
  if (!existsSync(file)) return undefined;
  try {
    const value = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // Noted below.
  }
  notes.push(`${path.basename(file)} is not a JSON object`);
  return undefined;
}

/**
 * The run's checkpoints: the files in `checkpoints/` and the summary's `checkpoint`, `bestCheckpoint`
 * and `lastCheckpoint` paths (the checkpoint plugin's `dir` may be elsewhere), tagged `best`/`last`.
 */
function findCheckpoints(dir: string, summary: Record<string, unknown> | undefined): CheckpointFile[] {
  const files = new Map<string, string[]>();
  const own = path.join(dir, 'checkpoints');
  if (existsSync(own) && statSync(own).isDirectory()) {
    for (const name of readdirSync(own).sort()) if (name.endsWith('.safetensors')) files.set(path.join(own, name), []);
  }
  for (const [key, value] of Object.entries(summary ?? {})) {
    const match = /^(?:(best|last)C|c)heckpoint$/.exec(key);
    if (!match || typeof value !== 'string' || !value) continue;
    const tag = match[1];
    const file = path.resolve(dir, value);
    if (!files.has(file)) files.set(file, []);
    if (tag) files.get(file)!.push(tag);
  }
  return [...files.entries()]
    .filter(([file]) => existsSync(file) && statSync(file).isFile())
    .map(([file, tags]) => ({ file, bytes: statSync(file).size, tags }));
}

/** Reads config.yaml, metrics.jsonl, media.jsonl, summary.json, run-info.json and the checkpoints of a run directory. */
export function readRunData(runDir: string): RunData {
  const dir = path.resolve(runDir);
  if (!existsSync(dir)) {
    throw new BtError('DATA_MISSING', `Run directory ${dir} does not exist.`, { hint: 'Pass the directory a run printed as "run directory: …".' });
  }
  if (!isRunDir(dir)) {
    throw new BtError('DATA_MISSING', `${dir} holds none of ${RUN_FILES.join(', ')}: it is not a run directory.`, {
      hint: 'Pass the directory a run printed as "run directory: …" (or a pipeline\'s directory, which holds one per stage).',
    });
  }
  const notes: string[] = [];
  const configFile = path.join(dir, 'config.yaml');
  const summary = readJson(path.join(dir, 'summary.json'), notes);
  return {
    runDir: dir,
    configText: existsSync(configFile) ? readFileSync(configFile, 'utf8') : undefined,
    metrics: readLines<MetricsLine>(path.join(dir, 'metrics.jsonl'), notes),
    media: readLines<MediaLine>(path.join(dir, 'media.jsonl'), notes),
    summary,
    info: readJson(path.join(dir, RUN_INFO_FILE), notes) as RunInfo | undefined,
    checkpoints: findCheckpoints(dir, summary),
    notes,
  };
}
