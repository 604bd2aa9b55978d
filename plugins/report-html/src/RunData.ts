import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { BtError } from '@bt-platform/sdk';

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

/** What a report is made of: the run directory's files, read as they are. */
export interface RunData {
  runDir: string;
  /** The resolved config as the core wrote it (config.yaml), or undefined when absent. */
  configText?: string;
  metrics: MetricsLine[];
  media: MediaLine[];
  summary?: Record<string, unknown>;
  /** Problems met while reading (a torn line, a missing file); shown in the report. */
  notes: string[];
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

/** Reads config.yaml, metrics.jsonl, media.jsonl and summary.json of a run directory. */
export function readRunData(runDir: string): RunData {
  const dir = path.resolve(runDir);
  if (!existsSync(dir)) {
    throw new BtError('DATA_MISSING', `Run directory ${dir} does not exist.`, { hint: 'Pass the directory a run printed as "run directory: …".' });
  }
  const has = ['config.yaml', 'metrics.jsonl', 'media.jsonl', 'summary.json'].filter((f) => existsSync(path.join(dir, f)));
  if (has.length === 0) {
    throw new BtError('DATA_MISSING', `${dir} holds none of config.yaml, metrics.jsonl, media.jsonl, summary.json: it is not a run directory.`, {
      hint: 'Pass the directory a run printed as "run directory: …".',
    });
  }
  const notes: string[] = [];
  const configFile = path.join(dir, 'config.yaml');
  let summary: Record<string, unknown> | undefined;
  const summaryFile = path.join(dir, 'summary.json');
  if (existsSync(summaryFile)) {
    try {
      summary = JSON.parse(readFileSync(summaryFile, 'utf8')) as Record<string, unknown>;
    } catch {
      notes.push('summary.json is not valid JSON');
    }
  }
  return {
    runDir: dir,
    configText: existsSync(configFile) ? readFileSync(configFile, 'utf8') : undefined,
    metrics: readLines<MetricsLine>(path.join(dir, 'metrics.jsonl'), notes),
    media: readLines<MediaLine>(path.join(dir, 'media.jsonl'), notes),
    summary,
    notes,
  };
}
