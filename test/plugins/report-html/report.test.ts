import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run } from '@bt-platform/core';
import { definePlugin } from '@bt-platform/sdk';
import { toyPlugin } from '@bt-platform/sdk/testing';
import plugin from '../../../plugins/report-html/src/index.js';
import { pipelineDirOf } from '../../../plugins/report-html/src/HtmlReport.js';
import { isPipelineDir, readPipelineData } from '../../../plugins/report-html/src/PipelineData.js';
import { chartModels, classTables, imageGroups } from '../../../plugins/report-html/src/ReportModel.js';
import { readRunData } from '../../../plugins/report-html/src/RunData.js';
import { commandLine, gitCommit } from '../../../plugins/report-html/src/RunInfo.js';
import { renderReport } from '../../../plugins/report-html/src/RunPage.js';
import { CLASSES, fakePipeline, fakeRun } from './fakeRun.js';

const log = { debug() {}, info() {}, warn() {}, error() {} };
const report = plugin.commands!.find((c) => c.name === 'report')!;
const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'bt-report-test-'));
/** The `href`s of `<a>` elements carrying `marker` in their attributes. */
const hrefs = (html: string, marker: string) => [...html.matchAll(/<a ([^>]*)>/g)].map((m) => m[1]).filter((a) => a.includes(marker)).map((a) => /href="([^"]*)"/.exec(a)![1]);
/** The page's data model (the JSON the page script reads). */
const pageModel = (html: string) => JSON.parse(/<script type="application\/json" id="bt-report-data">(.*?)<\/script>/s.exec(html)![1]);

describe('html report model', () => {
  test('one chart per metric name, one series per key holding its logged values at their steps; per-class keys are not charted', () => {
    const run = fakeRun();
    const charts = chartModels(readRunData(run.runDir));
    expect(charts.map((c) => c.title).sort()).toEqual(['loss', 'lr', 'mIoU']);
    expect(charts.find((c) => c.title === 'loss')!.series.map((s) => s.label)).toEqual(['train/loss', 'val/loss']);
    for (const line of run.metrics) {
      for (const [key, value] of Object.entries(line.values)) {
        if (key.startsWith('val/IoU/')) continue;
        const series = charts.flatMap((c) => c.series).find((s) => s.label === key)!;
        expect(series.y[series.step.indexOf(line.step)]).toBe(value);
      }
    }
    expect(charts.flatMap((c) => c.series.map((s) => s.label)).filter((k) => k.startsWith('val/IoU/'))).toEqual([]);
  });

  test('each point is on every x-axis: step, epochs done (the end of epoch e at e + 1) and seconds since the first metric', () => {
    const run = fakeRun(8);
    const loss = chartModels(readRunData(run.runDir)).find((c) => c.title === 'loss')!;
    const [train, val] = loss.series;
    // Epoch 0 holds steps 0..3 and epoch 1 steps 4..7; the fake run logs one line each 1.5 s.
    expect(train.step).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(train.epoch).toEqual([0, 1 / 3, 2 / 3, 1, 1.25, 1.5, 1.75, 2].map((e) => Math.round(e * 1e6) / 1e6));
    expect(train.time).toEqual([0, 1.5, 3, 4.5, 6, 7.5, 9, 10.5]);
    expect(val.epoch).toEqual([1, 2]);
    expect(val.time).toEqual([4.5, 10.5]);
  });

  test('per-class metrics become a class × epoch table of the last value logged in each epoch', () => {
    const run = fakeRun();
    const [table] = classTables(readRunData(run.runDir));
    expect(table.title).toBe('val/IoU');
    expect(table.classes).toEqual(CLASSES);
    expect(table.columns).toEqual(['0', '1']);
    for (const [i, cls] of CLASSES.entries()) {
      const logged = run.metrics.filter((m) => `val/IoU/${cls}` in m.values).map((m) => m.values[`val/IoU/${cls}`]);
      expect(table.values[i]).toEqual(logged);
    }
  });

  test('images grouped by key in step order, inlined as data URIs', () => {
    const run = fakeRun();
    const groups = imageGroups(readRunData(run.runDir));
    expect(groups.map((g) => g.key)).toEqual(['attention/val_0', 'cross-correlation', 'predictions']);
    for (const group of groups) {
      const expected = run.media.filter((m) => m.key === group.key);
      expect(group.items.map((i) => i.step)).toEqual(expected.map((m) => m.step));
      expect(group.items[0].src).toBe(`data:image/png;base64,${readFileSync(path.join(run.runDir, expected[0].path)).toString('base64')}`);
    }
  });

  test('a key with more images than the cap keeps that many, spread over the run, first and last included', () => {
    const run = fakeRun(16);
    const data = readRunData(run.runDir);
    expect(imageGroups(data)[0].items).toHaveLength(2);
    // Eight copies of each entry at distinct steps make a long series.
    data.media = data.media.flatMap((m) => Array.from({ length: 8 }, (_, k) => ({ ...m, step: m.step * 10 + k })));
    const steps = data.media.filter((m) => m.key === 'attention/val_0').map((m) => m.step);
    const capped = imageGroups(data, 5)[0].items.map((i) => i.step);
    expect(capped).toHaveLength(5);
    expect(capped[0]).toBe(steps[0]);
    expect(capped.at(-1)).toBe(steps.at(-1));
    expect([...capped].sort((a, b) => a - b)).toEqual(capped);
  });
});

describe('how the run was started', () => {
  test('the report shows command, git commit, system and backend, and links the checkpoints and image files relatively', () => {
    const run = fakeRun();
    const html = renderReport(readRunData(run.runDir));
    const info = /<table id="run-info"[^]*?<\/table>/.exec(html)![0];
    for (const text of ['bt-platform run -c configs/tiny.yaml', '0123456789abcdef0123456789abcdef01234567', 'v20.99.0', 'Linux 6.1 (linux-x64)', 'Test CPU × 4', 'cpu (cpu)']) {
      expect(info).toContain(text);
    }
    expect(hrefs(html, 'class="checkpoint"')).toEqual(['checkpoints/best.safetensors', 'checkpoints/last.safetensors']);
    expect(info).toMatch(/best\.safetensors<\/a> <span class="muted">2\.0 KB, best/);
    // Written elsewhere (--out), the links still lead to the files.
    const elsewhere = path.join(tmp(), 'reports');
    const moved = renderReport(readRunData(run.runDir), { outDir: elsewhere });
    for (const href of hrefs(moved, 'class="checkpoint"')) expect(existsSync(path.resolve(elsewhere, decodeURIComponent(href)))).toBe(true);
    for (const group of pageModel(moved).images) for (const item of group.items) expect(existsSync(path.resolve(elsewhere, item.href))).toBe(true);
  });

  test('the command line is recorded as typed, credentials masked; the git commit is that of the config directory, none outside a work tree', () => {
    expect(commandLine(['/usr/bin/node', '/x/core/bin/bt-platform.js', 'run', '-c', 'my config.yaml', '--set', 'wandb.apiKey=abcdef123456'])).toBe(
      "bt-platform run -c 'my config.yaml' --set 'wandb.apiKey=<redacted>'",
    );
    expect(commandLine(['node', 'train.js', '--note', 'ghp_' + 'a'.repeat(36)])).toBe("node train.js --note '<redacted>'");
    expect(gitCommit(tmp())).toBeUndefined();
    let hasGit = true;
    try {
      execFileSync('git', ['--version'], { stdio: 'ignore' });
    } catch {
      hasGit = false;
    }
    if (!hasGit) return console.warn('git commit check skipped: no git on PATH');
    const repo = tmp();
    const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd: repo, encoding: 'utf8' }).trim();
    git('init', '-q');
    git('commit', '-q', '--allow-empty', '-m', 'first');
    mkdirSync(path.join(repo, 'configs'));
    expect(gitCommit(path.join(repo, 'configs'))).toBe(git('rev-parse', 'HEAD'));
  });
});

describe('pipeline report', () => {
  test('`report PIPELINE_DIR` writes each stage\'s report and the pipeline\'s: stage links, val curves of the stages on one chart, final metrics side by side', async () => {
    const { dir, runs } = fakePipeline({ finetune: 1.5, scratch: 1 });
    await report.run([dir], {}, { cwd: process.cwd(), log } as never);
    const html = readFileSync(path.join(dir, 'report.html'), 'utf8');
    expect(hrefs(html, 'report.html')).toEqual(['finetune/report.html', 'scratch/report.html']);
    for (const stage of ['finetune', 'scratch']) {
      const stageHtml = readFileSync(path.join(dir, stage, 'report.html'), 'utf8');
      expect(hrefs(stageHtml, 'id="pipeline-link"')).toEqual(['../report.html']);
    }
    const charts: Array<{ title: string; series: Array<{ label: string; step: number[]; y: number[] }> }> = pageModel(html).charts;
    expect(charts.map((c) => c.title)).toEqual(['val/loss', 'val/mIoU']);
    const miou = charts.find((c) => c.title === 'val/mIoU')!;
    expect(miou.series.map((s) => s.label)).toEqual(['finetune', 'scratch']);
    for (const series of miou.series) {
      expect(series.y).toEqual(runs[series.label].metrics.filter((m) => 'val/mIoU' in m.values).map((m) => m.values['val/mIoU']));
    }
    const finals = /<table id="final-metrics"[^]*?<\/table>/.exec(html)![0];
    expect(finals).toMatch(/<tr data-key="val\/mIoU"><td>val\/mIoU<\/td><td class="num">0\.6<\/td><td class="num">0\.4<\/td><\/tr>/);
    // Per-class finals: class × stage.
    expect(html).toMatch(/<h3>val\/IoU <span class="muted">class × stage<\/span>/);
    expect(html).toContain(`data-value="${0.2 * 1.5}"`);
  });

  test('while the pipeline runs (no pipeline summary yet) its stages are the run directories in it, in the order they were created', () => {
    const { dir } = fakePipeline({ pretrain: 1, finetune: 2 }, false);
    expect(isPipelineDir(dir)).toBe(true);
    expect(readPipelineData(dir).stages.map((s) => s.name)).toEqual(['pretrain', 'finetune']);
    expect(isPipelineDir(path.join(dir, 'pretrain'))).toBe(false);
  });

  test('in a real pipeline each stage rewrites the pipeline report from the stages so far; each stage records how it was started', async () => {
    const runDir = tmp();
    const seenBySecond: string[] = [];
    // Looks, as the second stage starts, at what the first stage's teardown left in the pipeline directory.
    const spy = definePlugin({
      name: 'pipeline-report-spy',
      apply(hooks, ctx) {
        hooks.setup.tapPromise('pipeline-report-spy', async () => {
          const file = path.join(path.dirname(ctx.runDir), 'report.html');
          if (path.basename(ctx.runDir) === 'second' && existsSync(file)) seenBySecond.push(...hrefs(readFileSync(file, 'utf8'), 'report.html'));
        });
      },
    });
    const config = {
      name: 'pipe',
      runDir,
      backend: { use: 'cpu' },
      data: { use: 'toy', samples: 8, valSamples: 4, batchSize: 4 },
      task: { use: 'toy-regression' },
      optimizer: { use: 'sgd', lr: 0.05 },
      trainer: { maxEpochs: 1 },
      callbacks: [{ use: 'html-report' }],
      stages: [{ name: 'first' }, { name: 'second', optimizer: { use: 'sgd', lr: 0.01 } }],
    };
    const result = await run({ config, plugins: [toyPlugin, spy], quiet: true });
    expect(seenBySecond).toEqual(['first/report.html']);
    const html = readFileSync(path.join(result.runDir, 'report.html'), 'utf8');
    expect(hrefs(html, 'report.html')).toEqual(['first/report.html', 'second/report.html']);
    expect(pageModel(html).charts.find((c: { title: string }) => c.title === 'val/loss').series.map((s: { label: string }) => s.label)).toEqual(['first', 'second']);
    let head: string | undefined;
    try {
      head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: process.cwd(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      head = undefined;
    }
    for (const stage of ['first', 'second']) {
      const info = JSON.parse(readFileSync(path.join(result.runDir, stage, 'run-info.json'), 'utf8'));
      expect(info).toMatchObject({ node: process.version, cwd: process.cwd(), gitCommit: head });
      expect(info.command).toEqual(expect.any(String));
    }
  });

  test('a lone run is no pipeline stage: no pipeline report beside it', async () => {
    const runDir = tmp();
    const config = { name: 'solo', runDir, backend: { use: 'cpu' }, data: { use: 'toy', samples: 8, valSamples: 4, batchSize: 4 }, task: { use: 'toy-regression' }, optimizer: { use: 'sgd', lr: 0.05 }, trainer: { maxEpochs: 1 }, callbacks: [{ use: 'html-report' }] };
    const result = await run({ config, plugins: [toyPlugin], quiet: true });
    expect(pipelineDirOf({ runDir: result.runDir, configDir: process.cwd(), config })).toBeUndefined();
    expect(readdirSync(runDir)).toEqual([path.basename(result.runDir)]);
    expect(existsSync(path.join(result.runDir, 'report.html'))).toBe(true);
  });
});

describe('report command', () => {
  test('`report RUN_DIR` writes one self-contained file with escaped config; a non-run directory is refused', async () => {
    const run = fakeRun();
    await report.run([run.runDir], {}, { cwd: process.cwd(), log } as never);
    const html = readFileSync(path.join(run.runDir, 'report.html'), 'utf8');
    // Nothing is loaded from elsewhere (the browser test also records every request).
    expect(html).not.toMatch(/(src|href)\s*=\s*["']?(https?:|\/\/)|url\(\s*["']?(https?:|\/\/)|<link[^>]+stylesheet/);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('uPlot');
    await expect(report.run([path.join(run.runDir, 'media')], {}, { cwd: process.cwd(), log } as never)).rejects.toMatchObject({ code: 'DATA_MISSING' });
    expect(existsSync(path.join(run.runDir, 'media', 'report.html'))).toBe(false);
    const empty = tmp();
    writeFileSync(path.join(empty, 'notes.txt'), 'not a run');
    await expect(report.run([empty], {}, { cwd: process.cwd(), log } as never)).rejects.toMatchObject({ code: 'DATA_MISSING' });
  });
});
