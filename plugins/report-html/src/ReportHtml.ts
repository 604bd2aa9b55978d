import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { RunData } from './RunData.js';

/** One chart: a metric name with one series per stage (`train/loss` and `val/loss` share `loss`). */
export interface ChartModel {
  title: string;
  keys: string[];
  steps: number[];
  /** series[i][j]: value of keys[i] at steps[j], null where it was not logged. */
  series: Array<Array<number | null>>;
}

export interface ImageGroup {
  key: string;
  items: Array<{ step: number; epoch: number; caption?: string; src: string }>;
  missing: string[];
}

/** Colours of a chart's series, in order (the test looks for them on the canvas). */
export const PALETTE = [
  '#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22',
  '#aec7e8', '#ff9896', '#98df8a', '#ffbb78', '#c5b0d5', '#c49c94', '#f7b6d2', '#9edae5', '#393b79', '#637939', '#8c6d31',
];

const MIME: Record<string, string> = { png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif', webp: 'image/webp', svg: 'image/svg+xml' };

/** `train/loss` and `val/loss` share chart `loss`; per-class `val/IoU/cat` and `val/IoU/dog` share chart `IoU`; `lr` is its own. */
export function chartTitle(key: string): string {
  const parts = key.split('/');
  if (parts.length === 1) return key;
  // `train/loss` and `val/loss` share a chart; other families (`grad_norm/<param>`) are charted together.
  return ['train', 'val', 'test'].includes(parts[0]) ? parts[1] || key : parts[0];
}

/** Groups metric keys into charts by metric name (see chartTitle), one series per key. */
export function chartModels(data: RunData): ChartModel[] {
  const charts = new Map<string, { keys: string[]; points: Map<number, Map<string, number | null>> }>();
  for (const line of data.metrics) {
    for (const [key, value] of Object.entries(line.values ?? {})) {
      const title = chartTitle(key);
      let chart = charts.get(title);
      if (!chart) charts.set(title, (chart = { keys: [], points: new Map() }));
      if (!chart.keys.includes(key)) chart.keys.push(key);
      let at = chart.points.get(line.step);
      if (!at) chart.points.set(line.step, (at = new Map()));
      at.set(key, typeof value === 'number' && Number.isFinite(value) ? value : null);
    }
  }
  return [...charts.entries()].map(([title, chart]) => {
    const steps = [...chart.points.keys()].sort((a, b) => a - b);
    return { title, keys: chart.keys, steps, series: chart.keys.map((key) => steps.map((s) => chart.points.get(s)!.get(key) ?? null)) };
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
    if (!mime || !existsSync(file)) {
      group.missing.push(entry.path);
      continue;
    }
    group.items.push({ step: entry.step, epoch: entry.epoch, caption: entry.caption, src: `data:${mime};base64,${readFileSync(file).toString('base64')}` });
  }
  return [...groups.values()];
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** JSON that is safe inside a <script> element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

function flatten(value: unknown, prefix = '', out: Array<[string, string]> = []): Array<[string, string]> {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (value !== undefined) {
    out.push([prefix, typeof value === 'number' ? String(Number(value.toPrecision(6))) : typeof value === 'string' ? value : JSON.stringify(value)]);
  }
  return out;
}

/** The charting library, read from node_modules and inlined. */
function uplotAssets(): { js: string; css: string } {
  const require = createRequire(import.meta.url);
  return {
    js: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'),
    css: readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8'),
  };
}

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 0 auto; max-width: 1180px; padding: 16px; color: #222; }
h1 { font-size: 22px; } h2 { font-size: 18px; border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 28px; }
#charts { display: flex; flex-wrap: wrap; gap: 12px; } .chart { border: 1px solid #eee; padding: 4px; }
pre { background: #f7f7f7; padding: 8px; overflow: auto; max-height: 480px; }
table { border-collapse: collapse; } td { border-bottom: 1px solid #eee; padding: 2px 12px 2px 0; vertical-align: top; }
td:first-child { color: #555; white-space: nowrap; }
.images { display: flex; flex-wrap: wrap; gap: 16px; } .group { border: 1px solid #eee; padding: 8px; }
.group img { display: block; image-rendering: pixelated; min-width: 128px; max-width: 420px; max-height: 420px; }
.group input { width: 100%; } .muted { color: #777; }
`;

/** Runs in the page: draws the charts and wires the image sliders. Exposes `window.btReport` for inspection. */
const CLIENT = `
(function () {
  var data = JSON.parse(document.getElementById('bt-report-data').textContent);
  var charts = [];
  var box = document.getElementById('charts');
  data.charts.forEach(function (c) {
    var el = document.createElement('div');
    el.className = 'chart';
    el.setAttribute('data-title', c.title);
    box.appendChild(el);
    var series = [{ label: 'step' }].concat(c.keys.map(function (k, j) {
      return { label: k, stroke: data.palette[j % data.palette.length], width: 2, spanGaps: true, points: { show: c.steps.length <= 50 } };
    }));
    var plot = new uPlot({ title: c.title, width: 540, height: 280, scales: { x: { time: false } }, series: series }, [c.steps].concat(c.series), el);
    charts.push({ title: c.title, keys: c.keys, plot: plot, colors: series.slice(1).map(function (s) { return s.stroke; }) });
  });
  var images = [];
  Array.prototype.forEach.call(document.querySelectorAll('.group'), function (el, i) {
    var group = data.images[i];
    var img = el.querySelector('img');
    var label = el.querySelector('.label');
    var slider = el.querySelector('input');
    function show(index) {
      var item = group.items[index];
      if (!item) return;
      img.src = item.src;
      img.alt = group.key + ' at step ' + item.step;
      label.textContent = 'step ' + item.step + ' (epoch ' + item.epoch + ')' + (item.caption ? ' \\u2014 ' + item.caption : '');
      el.setAttribute('data-step', String(item.step));
    }
    slider.addEventListener('input', function () { show(Number(slider.value)); });
    show(Number(slider.value));
    images.push({ key: group.key, steps: group.items.map(function (it) { return it.step; }) });
  });
  window.btReport = { charts: charts, images: images, ready: true };
})();
`;

/** One self-contained HTML page: curves, config, images with a step slider, summary. Opens without network. */
export function renderReport(data: RunData, options: { maxImagesPerKey?: number } = {}): string {
  const charts = chartModels(data);
  const groups = imageGroups(data, options.maxImagesPerKey);
  const summary = data.summary as Record<string, unknown> | undefined;
  const name = typeof summary?.name === 'string' ? summary.name : path.basename(data.runDir);
  const { js, css } = uplotAssets();
  const summaryRows = summary ? flatten(summary) : [];
  const groupHtml = groups
    .map((g) => {
      const last = Math.max(0, g.items.length - 1);
      const missing = g.missing.length ? `<p class="muted">${g.missing.length} file(s) missing: ${escapeHtml(g.missing.join(', '))}</p>` : '';
      return `<div class="group" data-key="${escapeHtml(g.key)}"><h3>${escapeHtml(g.key)}</h3><img alt="${escapeHtml(g.key)}"><div class="label"></div>` +
        `<input type="range" min="0" max="${last}" step="1" value="${last}"${g.items.length < 2 ? ' disabled' : ''} aria-label="step of ${escapeHtml(g.key)}">${missing}</div>`;
    })
    .join('\n');
  const model = { charts, images: groups.map((g) => ({ key: g.key, items: g.items })), palette: PALETTE };
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>${escapeHtml(name)} — bt-platform run report</title>
<style>${css}</style>
<style>${STYLE}</style>
</head>
<body>
<h1>${escapeHtml(name)}</h1>
<p class="muted">${escapeHtml(data.runDir)}${summary?.status ? ` — ${escapeHtml(String(summary.status))}` : ''}</p>
${data.notes.length ? `<p class="muted">${escapeHtml(data.notes.join('; '))}</p>` : ''}
<h2>Curves</h2>
<div id="charts">${charts.length ? '' : '<p class="muted">No metrics were logged.</p>'}</div>
<h2>Images</h2>
<div class="images">${groupHtml || '<p class="muted">No images were logged.</p>'}</div>
<h2>Summary</h2>
${summaryRows.length ? `<table id="summary">${summaryRows.map(([k, v]) => `<tr><td>${escapeHtml(k)}</td><td>${escapeHtml(v)}</td></tr>`).join('')}</table>` : '<p class="muted">No summary.</p>'}
<h2>Config</h2>
${data.configText !== undefined ? `<pre id="config">${escapeHtml(data.configText)}</pre>` : '<p class="muted">No config.yaml.</p>'}
<script type="application/json" id="bt-report-data">${scriptJson(model)}</script>
<script>${js.replace(/<\/script/gi, '<\\/script')}</script>
<script>${CLIENT}</script>
</body>
</html>
`;
}
