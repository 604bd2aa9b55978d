import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { MetricsLine, RunData } from './RunData.js';

/**
 * One curve with its points where it was logged, against each x-axis the page offers: global step,
 * epochs done (fractional: a point at the end of epoch 0 is at 1) and seconds since the run's first
 * metric. The page aligns the series of a chart on the x-axis the reader picks.
 */
export interface SeriesModel {
  label: string;
  step: number[];
  epoch: number[];
  time: Array<number | null>;
  y: Array<number | null>;
}

export interface ChartModel {
  title: string;
  series: SeriesModel[];
}

/** A per-class metric family (`val/IoU/<class>`): rows of classes by columns (epochs, or stages). */
export interface ClassTable {
  title: string;
  columnLabel: string;
  columns: string[];
  classes: string[];
  /** values[i][j]: class i in column j, null where it was not logged. */
  values: Array<Array<number | null>>;
}

export interface ImageGroup {
  key: string;
  items: Array<{ step: number; epoch: number; caption?: string; src: string; file: string }>;
  missing: string[];
}

/** Colours of a chart's series, in order (the test looks for them on the canvas). */
export const PALETTE = [
  '#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22',
  '#aec7e8', '#ff9896', '#98df8a', '#ffbb78', '#c5b0d5', '#c49c94', '#f7b6d2', '#9edae5', '#393b79', '#637939', '#8c6d31',
];

const STAGES = ['train', 'val', 'test'];
const MIME: Record<string, string> = { png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif', webp: 'image/webp', svg: 'image/svg+xml' };

/** `val/IoU/cat` → family `val/IoU`, class `cat` (a class name may hold `/`); other keys → undefined. */
export function perClassKey(key: string): { family: string; cls: string } | undefined {
  const parts = key.split('/');
  if (parts.length < 3 || !STAGES.includes(parts[0])) return undefined;
  return { family: parts.slice(0, 2).join('/'), cls: parts.slice(2).join('/') };
}

/**
 * `train/loss`, `train/loss_epoch` (the epoch's mean) and `val/loss` share chart `loss`; `lr` is its
 * own; a family like `grad_norm/<param>` shares one.
 */
export function chartTitle(key: string): string {
  const parts = key.split('/');
  if (parts.length === 1) return key;
  return STAGES.includes(parts[0]) ? parts[1]?.replace(/_(epoch|step)$/, '') || key : parts[0];
}

/** Maps a logged (step, epoch) to epochs done: the last step logged in epoch e is at e + 1. */
function epochProgress(metrics: MetricsLine[]): (step: number, epoch: number) => number {
  const ends = new Map<number, { first: number; last: number }>();
  for (const { step, epoch } of metrics) {
    const range = ends.get(epoch);
    if (!range) ends.set(epoch, { first: step, last: step });
    else Object.assign(range, { first: Math.min(range.first, step), last: Math.max(range.last, step) });
  }
  const epochs = [...ends.keys()].sort((a, b) => a - b);
  const before = new Map<number, number>();
  epochs.forEach((epoch, i) => before.set(epoch, i === 0 ? Math.max(0, ends.get(epoch)!.first - 1) : ends.get(epochs[i - 1])!.last));
  return (step, epoch) => {
    const start = before.get(epoch) ?? step;
    const end = ends.get(epoch)?.last ?? step;
    const fraction = end > start ? Math.min(1, Math.max(0, (step - start) / (end - start))) : 1;
    return Math.round((epoch + fraction) * 1e6) / 1e6;
  };
}

/** Each key's points in log order, with their x on every axis. */
export function seriesByKey(data: RunData): Map<string, SeriesModel> {
  const progress = epochProgress(data.metrics);
  const times = data.metrics.map((m) => (m.time ? Date.parse(m.time) : NaN));
  const start = times.reduce((a, b) => (b < a ? b : a), Infinity);
  const out = new Map<string, SeriesModel>();
  data.metrics.forEach((line, i) => {
    for (const [key, value] of Object.entries(line.values ?? {})) {
      let series = out.get(key);
      if (!series) out.set(key, (series = { label: key, step: [], epoch: [], time: [], y: [] }));
      series.step.push(line.step);
      series.epoch.push(progress(line.step, line.epoch));
      series.time.push(Number.isFinite(times[i]) ? Math.round(times[i] - start) / 1000 : null);
      series.y.push(typeof value === 'number' && Number.isFinite(value) ? value : null);
    }
  });
  return out;
}

/** Charts by metric name (see chartTitle), one series per key; per-class keys go to classTables instead. */
export function chartModels(data: RunData): ChartModel[] {
  const charts = new Map<string, SeriesModel[]>();
  for (const [key, series] of seriesByKey(data)) {
    if (perClassKey(key)) continue;
    const title = chartTitle(key);
    charts.set(title, [...(charts.get(title) ?? []), series]);
  }
  return [...charts.entries()].map(([title, series]) => ({ title, series }));
}

/** Per-class families as class × epoch tables; a cell holds the last value logged in that epoch. */
export function classTables(data: RunData): ClassTable[] {
  const families = new Map<string, { classes: string[]; cells: Map<string, Map<number, number | null>> }>();
  const epochs = new Map<string, Set<number>>();
  for (const line of data.metrics) {
    for (const [key, value] of Object.entries(line.values ?? {})) {
      const parsed = perClassKey(key);
      if (!parsed) continue;
      let family = families.get(parsed.family);
      if (!family) families.set(parsed.family, (family = { classes: [], cells: new Map() }));
      if (!family.cells.has(parsed.cls)) {
        family.classes.push(parsed.cls);
        family.cells.set(parsed.cls, new Map());
      }
      family.cells.get(parsed.cls)!.set(line.epoch, typeof value === 'number' && Number.isFinite(value) ? value : null);
      epochs.set(parsed.family, (epochs.get(parsed.family) ?? new Set()).add(line.epoch));
    }
  }
  return [...families.entries()].map(([title, family]) => {
    const columns = [...epochs.get(title)!].sort((a, b) => a - b);
    return {
      title,
      columnLabel: 'epoch',
      columns: columns.map(String),
      classes: family.classes,
      values: family.classes.map((cls) => columns.map((epoch) => family.cells.get(cls)!.get(epoch) ?? null)),
    };
  });
}

/** At most `max` entries spread evenly over the list, first and last kept. */
function spread<T>(items: T[], max: number): T[] {
  if (items.length <= max) return items;
  if (max <= 1) return items.slice(-1);
  const picked = new Set<number>();
  for (let i = 0; i < max; i++) picked.add(Math.round((i * (items.length - 1)) / (max - 1)));
  return [...picked].map((i) => items[i]);
}

/**
 * Images by key, in step order, inlined as data URIs so the report needs nothing else; a key with
 * more than `maxPerKey` images keeps that many, spread over the run (first and last included).
 */
export function imageGroups(data: RunData, maxPerKey = Infinity): ImageGroup[] {
  const byKey = new Map<string, RunData['media']>();
  for (const entry of [...data.media].sort((a, b) => a.step - b.step)) {
    if (!byKey.has(entry.key)) byKey.set(entry.key, []);
    byKey.get(entry.key)!.push(entry);
  }
  const groups = new Map<string, ImageGroup>();
  for (const entry of [...byKey.values()].flatMap((entries) => spread(entries, maxPerKey))) {
    let group = groups.get(entry.key);
    if (!group) groups.set(entry.key, (group = { key: entry.key, items: [], missing: [] }));
    const file = path.resolve(data.runDir, entry.path);
    const mime = MIME[path.extname(file).slice(1).toLowerCase()];
    if (!mime || !existsSync(file) || !statSync(file).isFile()) {
      group.missing.push(entry.path);
      continue;
    }
    group.items.push({ step: entry.step, epoch: entry.epoch, caption: entry.caption, file, src: `data:${mime};base64,${readFileSync(file).toString('base64')}` });
  }
  return [...groups.values()];
}
