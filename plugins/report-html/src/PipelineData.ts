import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { BtError } from '@bt-platform/sdk';
import { perClassKey, seriesByKey, type ChartModel, type ClassTable } from './ReportModel.js';
import { isRunDir, readJson, readRunData, type RunData } from './RunData.js';

export interface StageData {
  name: string;
  data: RunData;
}

/** A pipeline's directory (`<runDir>/<name>-<timestamp>/`) and the run directory of each stage in it. */
export interface PipelineData {
  dir: string;
  /** The pipeline's summary.json: the core writes it once every stage has run. */
  summary?: Record<string, unknown>;
  stages: StageData[];
  notes: string[];
}

function stageSummaries(summary: Record<string, unknown> | undefined): Record<string, Record<string, unknown>> | undefined {
  const stages = summary?.stages;
  return stages && typeof stages === 'object' && !Array.isArray(stages) ? (stages as Record<string, Record<string, unknown>>) : undefined;
}

function childRunDirs(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && isRunDir(path.join(dir, e.name)))
    .map((e) => path.join(dir, e.name));
}

/**
 * A pipeline's directory: its summary.json lists `stages`, or (while the pipeline still runs, before
 * that summary exists) it is no run directory itself but holds run directories.
 */
export function isPipelineDir(dir: string): boolean {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return false;
  if (stageSummaries(readJson(path.join(dir, 'summary.json'), []))) return true;
  return !isRunDir(dir) && childRunDirs(dir).length > 0;
}

/** When a stage directory was created: the core writes its config.yaml first. */
function createdAt(dir: string): number {
  const config = path.join(dir, 'config.yaml');
  return statSync(existsSync(config) ? config : dir).mtimeMs;
}

/**
 * The stages in the order the pipeline ran them: those its summary lists (a resumed pipeline's
 * earlier stages live in the directory it resumed from), then any other stage directory present.
 */
export function readPipelineData(pipelineDir: string): PipelineData {
  const dir = path.resolve(pipelineDir);
  if (!isPipelineDir(dir)) {
    throw new BtError('DATA_MISSING', `${dir} is not a pipeline directory: it has no summary.json with \`stages\` and holds no stage run directories.`, {
      hint: 'Pass the directory a pipeline printed last as "run directory: …".',
    });
  }
  const notes: string[] = [];
  const summary = readJson(path.join(dir, 'summary.json'), notes);
  const stages: StageData[] = [];
  const seen = new Set<string>();
  for (const [name, stage] of Object.entries(stageSummaries(summary) ?? {})) {
    const recorded = typeof stage?.runDir === 'string' ? path.resolve(dir, stage.runDir) : undefined;
    const stageDir = recorded && isRunDir(recorded) ? recorded : path.join(dir, name);
    if (!isRunDir(stageDir)) {
      notes.push(`stage "${name}": its run directory ${recorded ?? stageDir} is gone`);
      continue;
    }
    seen.add(stageDir);
    stages.push({ name, data: readRunData(stageDir) });
  }
  const others = childRunDirs(dir).filter((d) => !seen.has(d)).sort((a, b) => createdAt(a) - createdAt(b) || a.localeCompare(b));
  for (const stageDir of others) stages.push({ name: path.basename(stageDir), data: readRunData(stageDir) });
  return { dir, summary, stages, notes };
}

/**
 * One chart per validation metric, one series per stage that logged it (per-class keys left out);
 * metrics that more stages share come first, as they are what a comparison is for.
 */
export function comparisonCharts(pipeline: PipelineData): ChartModel[] {
  const charts = new Map<string, ChartModel>();
  for (const stage of pipeline.stages) {
    for (const [key, series] of seriesByKey(stage.data)) {
      if (!key.startsWith('val/') || perClassKey(key)) continue;
      if (!charts.has(key)) charts.set(key, { title: key, series: [] });
      charts.get(key)!.series.push({ ...series, label: stage.name });
    }
  }
  return [...charts.values()].sort((a, b) => b.series.length - a.series.length);
}

/** A stage's final metrics: the last value logged for each key, overridden by those in its summary. */
export function finalMetrics(data: RunData): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const line of data.metrics) Object.assign(out, line.values ?? {});
  const summarised = data.summary?.metrics;
  if (summarised && typeof summarised === 'object') Object.assign(out, summarised);
  for (const [key, value] of Object.entries(out)) if (typeof value !== 'number' || !Number.isFinite(value)) out[key] = null;
  return out;
}

const ORDER = ['val/', 'test/', 'train/'];
const rank = (key: string) => {
  const i = ORDER.findIndex((p) => key.startsWith(p));
  return i < 0 ? ORDER.length : i;
};

/** Metric × stage: the final values side by side (val, test, train, then the rest). */
export function finalMetricsTable(pipeline: PipelineData): { keys: string[]; values: Array<Array<number | null>> } {
  const finals = pipeline.stages.map((s) => finalMetrics(s.data));
  const keys = [...new Set(finals.flatMap((f) => Object.keys(f)))].filter((k) => !perClassKey(k)).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  return { keys, values: keys.map((key) => finals.map((f) => f[key] ?? null)) };
}

/** Per-class families as class × stage tables of final values. */
export function finalClassTables(pipeline: PipelineData): ClassTable[] {
  const finals = pipeline.stages.map((s) => finalMetrics(s.data));
  const families = new Map<string, string[]>();
  for (const final of finals) {
    for (const key of Object.keys(final)) {
      const parsed = perClassKey(key);
      if (!parsed) continue;
      const classes = families.get(parsed.family) ?? [];
      if (!classes.includes(parsed.cls)) classes.push(parsed.cls);
      families.set(parsed.family, classes);
    }
  }
  return [...families.entries()].map(([title, classes]) => ({
    title,
    columnLabel: 'stage',
    columns: pipeline.stages.map((s) => s.name),
    classes,
    values: classes.map((cls) => finals.map((f) => f[`${title}/${cls}`] ?? null)),
  }));
}
