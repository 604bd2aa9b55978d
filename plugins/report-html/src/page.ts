import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { CHARTS_SCRIPT } from './chartsScript.js';
import type { ChartModel, ClassTable, ImageGroup } from './ReportModel.js';
import { PALETTE } from './ReportModel.js';

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** JSON that is safe inside a <script> element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** A link from the report's directory to `file`, relative so that the folder can be moved or copied whole. */
export function relativeHref(fromDir: string, file: string): string {
  return path.relative(fromDir, file).split(path.sep).map(encodeURIComponent).join('/');
}

export function formatNumber(value: number | null | undefined): string {
  if (value === null || value === undefined) return '–';
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(4)));
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB'];
  let i = 0;
  while (bytes >= 1024 && i < units.length - 1) (bytes /= 1024), i++;
  return `${i ? bytes.toFixed(1) : bytes} ${units[i]}`;
}

/** Rows of `label: cell` where the cell is already HTML; rows without a value are left out. */
export function infoTable(id: string, rows: Array<[string, string | undefined]>): string {
  const kept = rows.filter(([, v]) => v !== undefined && v !== '');
  return kept.length ? `<table id="${id}" class="info">${kept.map(([k, v]) => `<tr><td>${escapeHtml(k)}</td><td>${v}</td></tr>`).join('')}</table>` : '';
}

/** White → blue, darker is higher (ColorBrewer Blues). */
const RAMP = [[247, 251, 255], [107, 174, 214], [8, 48, 107]];

function cellColour(t: number): string {
  const x = Math.min(1, Math.max(0, t)) * (RAMP.length - 1);
  const i = Math.min(RAMP.length - 2, Math.floor(x));
  const f = x - i;
  return `rgb(${RAMP[i].map((c, k) => Math.round(c + (RAMP[i + 1][k] - c) * f)).join(',')})`;
}

/** A class × column table coloured by value; fractions ([0, 1]) keep a fixed scale so that tables compare. */
export function heatmap(table: ClassTable): string {
  const values = table.values.flat().filter((v): v is number => v !== null);
  const fractions = values.every((v) => v >= 0 && v <= 1);
  const [lo, hi] = fractions ? [0, 1] : [Math.min(...values), Math.max(...values)];
  const head = `<tr><th>class</th>${table.columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}</tr>`;
  const rows = table.classes.map((cls, i) => {
    const cells = table.values[i].map((v, j) => {
      const where = `${cls}, ${table.columnLabel} ${table.columns[j]}`;
      if (v === null) return `<td class="empty" title="${escapeHtml(where)}: not logged"></td>`;
      const t = hi > lo ? (v - lo) / (hi - lo) : 1;
      const text = fractions ? v.toFixed(2) : formatNumber(v);
      return `<td data-value="${v}" title="${escapeHtml(`${where}: ${v}`)}" style="background:${cellColour(t)};color:${t > 0.55 ? '#fff' : '#111'}">${text}</td>`;
    });
    return `<tr><th>${escapeHtml(cls)}</th>${cells.join('')}</tr>`;
  });
  return `<div class="heatmap-block" data-title="${escapeHtml(table.title)}"><h3>${escapeHtml(table.title)} <span class="muted">class × ${escapeHtml(table.columnLabel)}</span></h3>` +
    `<div class="heatmap-wrap"><table class="heatmap">${head}${rows.join('')}</table></div></div>`;
}

export const CHART_CONTROLS = `<div id="chart-controls" class="controls">
<label>x-axis <select id="x-axis"><option value="step">step</option><option value="epoch">epoch</option><option value="time">wall time</option></select></label>
<label><input type="checkbox" id="log-scale"> log scale</label>
<label>smoothing <input type="range" id="smoothing" min="0" max="0.99" step="0.01" value="0"> <output id="smoothing-value">0.00</output></label>
</div>`;

export function imageGroupsHtml(groups: ImageGroup[]): string {
  return groups
    .map((g) => {
      const last = Math.max(0, g.items.length - 1);
      const missing = g.missing.length ? `<p class="muted">${g.missing.length} file(s) missing: ${escapeHtml(g.missing.join(', '))}</p>` : '';
      return `<div class="group" data-key="${escapeHtml(g.key)}"><h3>${escapeHtml(g.key)} <a class="open" target="_blank">open file</a></h3>` +
        `<img alt="${escapeHtml(g.key)}" title="click to enlarge"><div class="label"></div>` +
        `<input type="range" min="0" max="${last}" step="1" value="${last}"${g.items.length < 2 ? ' disabled' : ''} aria-label="step of ${escapeHtml(g.key)}">${missing}</div>`;
    })
    .join('\n');
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
body { font: 14px/1.4 system-ui, sans-serif; margin: 0 auto; max-width: 1280px; padding: 16px; color: #222; }
h1 { font-size: 22px; } h2 { font-size: 18px; border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 28px; } h3 { font-size: 15px; }
a { color: #1f5fa8; }
.controls { position: sticky; top: 0; z-index: 2; background: #fff; padding: 6px 0; display: flex; gap: 20px; align-items: center; border-bottom: 1px solid #eee; }
.controls input[type=range] { width: 180px; vertical-align: middle; }
#charts { display: flex; flex-wrap: wrap; gap: 12px; margin-top: 8px; } .chart { border: 1px solid #eee; padding: 4px; }
pre { background: #f7f7f7; padding: 8px; overflow: auto; max-height: 480px; }
table { border-collapse: collapse; } td, th { border-bottom: 1px solid #eee; padding: 2px 12px 2px 0; vertical-align: top; text-align: left; }
table.info td:first-child, #summary td:first-child { color: #555; white-space: nowrap; }
table.compare td, table.compare th { padding: 2px 10px; } table.compare td.num { text-align: right; font-variant-numeric: tabular-nums; }
code { background: #f3f3f3; padding: 1px 4px; word-break: break-all; }
.heatmap-wrap { overflow-x: auto; max-width: 100%; }
table.heatmap td, table.heatmap th { padding: 3px 4px; border: 1px solid #fff; font-size: 12px; text-align: center; min-width: 34px; font-variant-numeric: tabular-nums; }
table.heatmap th:first-child { position: sticky; left: 0; background: #fff; text-align: left; white-space: nowrap; }
table.heatmap td.empty { background: #f4f4f4; }
.images { display: flex; flex-direction: column; gap: 16px; } .group { border: 1px solid #eee; padding: 8px; }
.group h3 { margin: 0 0 6px; } .group h3 a { font-weight: normal; font-size: 13px; margin-left: 8px; }
.group img { display: block; max-width: 100%; height: auto; min-width: min(128px, 100%); image-rendering: pixelated; cursor: zoom-in; }
.group input { width: 100%; } .muted { color: #777; }
#lightbox { position: fixed; inset: 0; z-index: 10; display: flex; overflow: auto; background: rgba(0, 0, 0, 0.85); }
#lightbox[hidden] { display: none; }
#lightbox figure { margin: auto; padding: 12px; text-align: center; }
#lightbox img { display: block; image-rendering: pixelated; cursor: zoom-in; background: #fff; }
#lightbox[data-zoom=natural] img { cursor: zoom-out; }
#lightbox figcaption { color: #eee; margin-top: 6px; }
#lightbox button { position: fixed; top: 8px; right: 12px; font-size: 28px; color: #fff; background: none; border: 0; cursor: pointer; }
`;

/** One self-contained page: the style, uPlot and the page script inlined; `model` feeds the script. */
export function page(title: string, body: string, model: { charts: ChartModel[]; images: Array<{ key: string; items: unknown[] }> }): string {
  const { js, css } = uplotAssets();
  const inline = (code: string) => code.replace(/<\/script/gi, '<\\/script');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>${escapeHtml(title)}</title>
<style>${css}</style>
<style>${STYLE}</style>
</head>
<body>
${body}
<div id="lightbox" hidden data-zoom="fit"><figure><img alt=""><figcaption></figcaption></figure><button type="button" aria-label="close">×</button></div>
<script type="application/json" id="bt-report-data">${scriptJson({ ...model, palette: PALETTE })}</script>
<script>${inline(js)}</script>
<script>${inline(CHARTS_SCRIPT)}</script>
</body>
</html>
`;
}
