import path from 'node:path';
import { CHART_CONTROLS, escapeHtml, formatBytes, heatmap, imageGroupsHtml, infoTable, page, relativeHref } from './page.js';
import { chartModels, classTables, imageGroups } from './ReportModel.js';
import type { RunData } from './RunData.js';

export interface RunPageOptions {
  maxImagesPerKey?: number;
  /** Directory the report is written to: links (checkpoints, image files) are relative to it. */
  outDir?: string;
  /** The pipeline's report, for a stage of a pipeline. */
  pipelineReport?: string;
}

function flatten(value: unknown, prefix = '', out: Array<[string, string]> = []): Array<[string, string]> {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (value !== undefined) {
    out.push([prefix, typeof value === 'number' ? String(Number(value.toPrecision(6))) : typeof value === 'string' ? value : JSON.stringify(value)]);
  }
  return out;
}

/** How the run was started and on what: command, commit, system, backend, and links to its checkpoints. */
export function runInfoRows(data: RunData, outDir: string): Array<[string, string | undefined]> {
  const { info, summary } = data;
  const text = (v: unknown) => (v === undefined || v === null || v === '' ? undefined : escapeHtml(String(v)));
  const checkpoints = data.checkpoints
    .map((c) => `<a class="checkpoint" href="${escapeHtml(relativeHref(outDir, c.file))}">${escapeHtml(path.relative(data.runDir, c.file))}</a> <span class="muted">${formatBytes(c.bytes)}${c.tags.length ? `, ${c.tags.join(', ')}` : ''}</span>`)
    .join('<br>');
  return [
    ['command', info?.command ? `<code>${escapeHtml(info.command)}</code>` : undefined],
    ['working directory', text(info?.cwd)],
    ['git commit', info?.gitCommit ? `<code>${escapeHtml(info.gitCommit)}</code>` : undefined],
    ['started', text(info?.startedAt)],
    ['duration', summary?.durationSec !== undefined ? `${escapeHtml(String(summary.durationSec))} s` : undefined],
    ['epochs / steps', summary?.epochs !== undefined ? `${text(summary.epochs)} / ${text(summary.steps)}` : undefined],
    ['parameters', typeof summary?.parameters === 'number' ? summary.parameters.toLocaleString('en') : undefined],
    ['backend', text(summary?.backend)],
    ['node', text(info?.node)],
    ['OS', text(info?.os)],
    ['CPU', text(info?.cpu)],
    ['memory', info?.memoryGiB ? `${info.memoryGiB} GiB` : undefined],
    ['checkpoints', checkpoints || undefined],
  ];
}

/** One run's page: how it ran, curves, per-class tables, images, summary, config. */
export function renderReport(data: RunData, options: RunPageOptions = {}): string {
  const outDir = options.outDir ?? data.runDir;
  const charts = chartModels(data);
  const tables = classTables(data);
  const groups = imageGroups(data, options.maxImagesPerKey);
  const summary = data.summary;
  const name = typeof summary?.name === 'string' ? summary.name : path.basename(data.runDir);
  const summaryRows = summary ? flatten(summary) : [];
  const up = options.pipelineReport ? `<p><a id="pipeline-link" href="${escapeHtml(relativeHref(outDir, options.pipelineReport))}">← pipeline report</a></p>` : '';
  const body = `${up}
<h1>${escapeHtml(name)}</h1>
<p class="muted">${escapeHtml(data.runDir)}${summary?.status ? ` — ${escapeHtml(String(summary.status))}` : ''}</p>
${data.notes.length ? `<p class="muted">${escapeHtml(data.notes.join('; '))}</p>` : ''}
<h2>Run</h2>
${infoTable('run-info', runInfoRows(data, outDir)) || '<p class="muted">Nothing recorded about how the run was started.</p>'}
<h2>Curves</h2>
${charts.length ? CHART_CONTROLS : ''}
<div id="charts">${charts.length ? '' : '<p class="muted">No metrics were logged.</p>'}</div>
${tables.length ? `<h2>Per-class metrics</h2>\n${tables.map(heatmap).join('\n')}` : ''}
<h2>Images</h2>
<div class="images">${imageGroupsHtml(groups) || '<p class="muted">No images were logged.</p>'}</div>
<h2>Summary</h2>
${summaryRows.length ? `<table id="summary">${summaryRows.map(([k, v]) => `<tr><td>${escapeHtml(k)}</td><td>${escapeHtml(v)}</td></tr>`).join('')}</table>` : '<p class="muted">No summary.</p>'}
<h2>Config</h2>
${data.configText !== undefined ? `<pre id="config">${escapeHtml(data.configText)}</pre>` : '<p class="muted">No config.yaml.</p>'}`;
  const images = groups.map((g) => ({ key: g.key, items: g.items.map(({ file, ...item }) => ({ ...item, href: relativeHref(outDir, file) })) }));
  return page(`${name} — bt-platform run report`, body, { charts, images });
}
