import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import plugin from '../../../plugins/report-html/src/index.js';
import { chartModels, imageGroups } from '../../../plugins/report-html/src/ReportHtml.js';
import { readRunData } from '../../../plugins/report-html/src/RunData.js';
import { fakeRun } from './fakeRun.js';

const log = { debug() {}, info() {}, warn() {}, error() {} };

describe('html report model', () => {
  test('one chart per metric name, one series per stage, values at their steps', () => {
    const run = fakeRun();
    const charts = chartModels(readRunData(run.runDir));
    expect(charts.map((c) => c.title).sort()).toEqual(['loss', 'lr', 'mIoU']);
    const loss = charts.find((c) => c.title === 'loss')!;
    expect(loss.keys).toEqual(['train/loss', 'val/loss']);
    for (const line of run.metrics) {
      for (const [key, value] of Object.entries(line.values)) {
        const chart = charts.find((c) => c.keys.includes(key))!;
        expect(chart.series[chart.keys.indexOf(key)][chart.steps.indexOf(line.step)]).toBe(value);
      }
    }
    // val/loss is absent at steps without validation.
    expect(loss.series[1].filter((v) => v === null)).toHaveLength(loss.steps.length - run.metrics.filter((m) => 'val/loss' in m.values).length);
  });

  test('images grouped by key in step order, inlined as data URIs', () => {
    const run = fakeRun();
    const groups = imageGroups(readRunData(run.runDir));
    expect(groups.map((g) => g.key)).toEqual(['attention/val_0', 'cross-correlation']);
    for (const group of groups) {
      const expected = run.media.filter((m) => m.key === group.key);
      expect(group.items.map((i) => i.step)).toEqual(expected.map((m) => m.step));
      expect(group.items[0].src).toBe(`data:image/png;base64,${readFileSync(path.join(run.runDir, expected[0].path)).toString('base64')}`);
    }
  });

  test('a key with more images than the cap keeps that many, spread over the run, first and last included', () => {
    const run = fakeRun(16);
    const data = readRunData(run.runDir);
    const all = imageGroups(data)[0].items.map((i) => i.step);
    expect(all).toHaveLength(2);
    // Eight copies of each entry at distinct steps make a long series.
    data.media = data.media.flatMap((m) => Array.from({ length: 8 }, (_, k) => ({ ...m, step: m.step * 10 + k })));
    const steps = data.media.filter((m) => m.key === 'attention/val_0').map((m) => m.step);
    const capped = imageGroups(data, 5)[0].items.map((i) => i.step);
    expect(capped).toHaveLength(5);
    expect(capped[0]).toBe(steps[0]);
    expect(capped.at(-1)).toBe(steps.at(-1));
    expect([...capped].sort((a, b) => a - b)).toEqual(capped);
  });

  test('`report RUN_DIR` writes one self-contained file with escaped config; a non-run directory is refused', async () => {
    const run = fakeRun();
    const command = plugin.commands!.find((c) => c.name === 'report')!;
    await command.run([run.runDir], {}, { cwd: process.cwd(), log } as never);
    const html = readFileSync(path.join(run.runDir, 'report.html'), 'utf8');
    // Nothing is loaded from elsewhere (the browser test also records every request).
    expect(html).not.toMatch(/(src|href)\s*=\s*["']?(https?:|\/\/)|url\(\s*["']?(https?:|\/\/)|<link[^>]+stylesheet/);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('uPlot');
    await expect(command.run([path.join(run.runDir, 'media')], {}, { cwd: process.cwd(), log } as never)).rejects.toMatchObject({ code: 'DATA_MISSING' });
    expect(existsSync(path.join(run.runDir, 'media', 'report.html'))).toBe(false);
  });
});
