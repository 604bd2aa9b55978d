import { existsSync } from 'node:fs';
import path from 'node:path';
import { CHART_CONTROLS, escapeHtml, formatNumber, heatmap, infoTable, page, relativeHref } from './page.js';
import { comparisonCharts, finalClassTables, finalMetricsTable, type PipelineData } from './PipelineData.js';
import { runInfoRows } from './RunPage.js';

export interface PipelinePageOptions {
  /** Directory the report is written to: links are relative to it. */
  outDir?: string;
  /** File name of each stage's own report, linked when present. */
  reportName?: string;
}

/** A pipeline's page: its stages with links to their reports, their validation curves together, their final metrics side by side. */
export function renderPipelineReport(pipeline: PipelineData, options: PipelinePageOptions = {}): string {
  const outDir = options.outDir ?? pipeline.dir;
  const reportName = options.reportName ?? 'report.html';
  const name = path.basename(pipeline.dir);
  const charts = comparisonCharts(pipeline);
  const finals = finalMetricsTable(pipeline);
  const classTables = finalClassTables(pipeline);
  const link = (file: string, text: string) => `<a href="${escapeHtml(relativeHref(outDir, file))}">${escapeHtml(text)}</a>`;
  const stageRows = pipeline.stages.map(({ name: stage, data }) => {
    const s = data.summary ?? {};
    const report = path.join(data.runDir, reportName);
    const best = data.checkpoints.find((c) => c.tags.includes('best')) ?? data.checkpoints.find((c) => c.tags.includes('last'));
    const cells = [
      existsSync(report) ? link(report, stage) : `${escapeHtml(stage)} <span class="muted">(no report)</span>`,
      escapeHtml(String(s.status ?? 'running')),
      escapeHtml(String(s.epochs ?? '–')),
      escapeHtml(String(s.steps ?? '–')),
      s.durationSec !== undefined ? `${escapeHtml(String(s.durationSec))} s` : '–',
      escapeHtml(String(s.backend ?? '–')),
      best ? link(best.file, path.relative(pipeline.dir, best.file)) : '–',
    ];
    return `<tr data-stage="${escapeHtml(stage)}">${cells.map((c) => `<td>${c}</td>`).join('')}</tr>`;
  });
  const headers = ['stage', 'status', 'epochs', 'steps', 'duration', 'backend', 'checkpoint'];
  const stagesTable = `<table id="stages" class="compare"><tr>${headers.map((h) => `<th>${h}</th>`).join('')}</tr>${stageRows.join('')}</table>`;
  const finalsTable = finals.keys.length
    ? `<table id="final-metrics" class="compare"><tr><th>metric</th>${pipeline.stages.map((s) => `<th>${escapeHtml(s.name)}</th>`).join('')}</tr>` +
      finals.keys.map((key, i) => `<tr data-key="${escapeHtml(key)}"><td>${escapeHtml(key)}</td>${finals.values[i].map((v) => `<td class="num">${formatNumber(v)}</td>`).join('')}</tr>`).join('') +
      '</table>'
    : '<p class="muted">No metrics yet.</p>';
  // Command, commit and system are those of the first stage that recorded them: a pipeline runs in one process.
  const first = pipeline.stages.find((s) => s.data.info)?.data;
  const infoRows = first ? runInfoRows(first, outDir).filter(([label]) => ['command', 'working directory', 'git commit', 'started', 'node', 'OS', 'CPU', 'memory'].includes(label)) : [];
  const resumed = typeof pipeline.summary?.resumedFrom === 'string' ? `<p class="muted">Resumed from ${escapeHtml(pipeline.summary.resumedFrom)}.</p>` : '';
  const body = `<h1>${escapeHtml(name)}</h1>
<p class="muted">${escapeHtml(pipeline.dir)} — pipeline of ${pipeline.stages.length} stage(s)</p>
${resumed}
${pipeline.notes.length ? `<p class="muted">${escapeHtml(pipeline.notes.join('; '))}</p>` : ''}
<h2>Stages</h2>
${stagesTable}
${infoRows.length ? `<h2>Run</h2>\n${infoTable('run-info', infoRows)}` : ''}
<h2>Validation curves</h2>
${charts.length ? CHART_CONTROLS : ''}
<div id="charts">${charts.length ? '' : '<p class="muted">No validation metrics were logged.</p>'}</div>
<h2>Final metrics</h2>
${finalsTable}
${classTables.length ? `<h2>Per-class metrics (final)</h2>\n${classTables.map(heatmap).join('\n')}` : ''}`;
  return page(`${name} — bt-platform pipeline report`, body, { charts, images: [] });
}
