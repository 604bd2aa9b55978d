import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import sharp from 'sharp';
import plugin from '../../../plugins/report-html/src/index.js';
import { CLASSES, fakePipeline, fakeRun, WIDE } from './fakeRun.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const hasBrowser = existsSync(CHROMIUM);
if (!hasBrowser) {
  console.warn(`report-html browser test skipped: no Chromium at ${CHROMIUM} (install Debian's \`chromium\` package, or set CHROMIUM_PATH).`);
}
const describeBrowser = hasBrowser ? describe : describe.skip;
const log = { debug() {}, info() {}, warn() {}, error() {} };
const report = plugin.commands!.find((c) => c.name === 'report')!;

type Page = import('playwright-core').Page;

/** Counts pixels of `hex` (±tolerance per channel) on every canvas inside the chart titled `title`. */
function countColour([title, hex]: [string, string]): number {
  const target = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  const chart = document.querySelector(`.chart[data-title="${title}"]`)!;
  let n = 0;
  for (const canvas of Array.from(chart.querySelectorAll('canvas'))) {
    const { data } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
    for (let i = 0; i < data.length; i += 4) {
      if (data[i + 3] > 200 && Math.abs(data[i] - target[0]) < 16 && Math.abs(data[i + 1] - target[1]) < 16 && Math.abs(data[i + 2] - target[2]) < 16) n++;
    }
  }
  return n;
}

/** What a chart holds now: its uPlot data, scale and the x label shown in its legend. */
const chartState = (page: Page, title: string) =>
  page.evaluate((t) => {
    const chart = (window as any).btReport.charts.find((c: any) => c.title === t);
    return {
      data: chart.plot.data as Array<Array<number | null>>,
      distr: chart.plot.scales.y.distr as number,
      legendX: chart.el.querySelector('.u-legend .u-series .u-label')?.textContent as string,
      attrs: { x: chart.el.getAttribute('data-x'), log: chart.el.getAttribute('data-log'), smoothing: chart.el.getAttribute('data-smoothing') },
    };
  }, title);

/** A screenshot that shows something: decodes, and its pixels vary. */
async function expectNonBlank(file: string): Promise<void> {
  const { channels } = await sharp(file).stats();
  expect(Math.max(...channels.slice(0, 3).map((c) => c.stdev))).toBeGreaterThan(10);
  const { width, height } = await sharp(file).metadata();
  expect(width! * height!).toBeGreaterThan(100_000);
}

/** Debiased EMA, as the page computes it. */
function ema(values: number[], weight: number): number[] {
  let last = 0;
  let norm = 0;
  return values.map((v) => {
    last = last * weight + (1 - weight) * v;
    norm = norm * weight + (1 - weight);
    return last / norm;
  });
}

describeBrowser('html report in headless Chromium', () => {
  let browser: import('playwright-core').Browser;
  const shots = mkdtempSync(path.join(os.tmpdir(), 'bt-report-shots-'));

  beforeAll(async () => {
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
    console.log(`report-html browser test: screenshots in ${shots}`);
  });
  afterAll(async () => {
    await browser?.close();
  });

  async function open(file: string) {
    const context = await browser.newContext({ offline: true, viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    const problems: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
    await page.waitForFunction(() => (window as any).btReport?.ready === true);
    return { context, page, problems, requests };
  }

  test('stage report: loads offline; charts hold and draw the logged values; x-axis, log scale and smoothing redraw them; per-class heatmap; images readable and enlarged on click', async () => {
    const run = fakeRun();
    await report.run([run.runDir], {}, { cwd: process.cwd(), log } as never);
    const { context, page, problems, requests } = await open(path.join(run.runDir, 'report.html'));
    // Nothing to report while the page loads (the pixel reads below cause a harmless readback warning of their own).
    expect(problems).toEqual([]);
    await page.screenshot({ path: path.join(shots, 'stage.png'), fullPage: true });
    await expectNonBlank(path.join(shots, 'stage.png'));

    // Charts: the uPlot instances hold exactly the logged values at their steps; per-class keys are not charted.
    const charts = await page.evaluate(() => (window as any).btReport.charts.map((c: any) => ({ title: c.title, keys: c.keys, colors: c.colors, data: c.plot.data })));
    expect(charts.map((c: any) => c.title).sort()).toEqual(['loss', 'lr', 'mIoU']);
    for (const line of run.metrics) {
      for (const [key, value] of Object.entries(line.values)) {
        if (key.startsWith('val/IoU/')) continue;
        const chart = charts.find((c: any) => c.keys.includes(key));
        const at = chart.data[0].indexOf(line.step);
        expect(at).toBeGreaterThanOrEqual(0);
        expect(chart.data[1 + chart.keys.indexOf(key)][at]).toBeCloseTo(value, 12);
      }
    }
    // …and every series is drawn: its colour is on the chart's canvas.
    for (const chart of charts) {
      for (const colour of chart.colors) {
        const pixels = await page.evaluate(countColour, [chart.title, colour] as [string, string]);
        expect({ chart: chart.title, colour, drawn: pixels > 20 }).toEqual({ chart: chart.title, colour, drawn: true });
      }
    }

    // x-axis: epochs done, then seconds since the first metric, then back to steps; the legend says which.
    const trainLoss = run.metrics.filter((m) => 'train/loss' in m.values);
    await page.selectOption('#x-axis', 'epoch');
    let loss = await chartState(page, 'loss');
    expect(loss.legendX).toBe('epoch');
    expect(loss.attrs.x).toBe('epoch');
    expect(loss.data[0].map((x) => Number(x!.toFixed(3)))).toEqual([0, 0.333, 0.667, 1, 1.25, 1.5, 1.75, 2]);
    await page.selectOption('#x-axis', 'time');
    loss = await chartState(page, 'loss');
    expect(loss.legendX).toBe('time (s)');
    expect(loss.data[0]).toEqual(trainLoss.map((m, i) => i * 1.5));
    await page.selectOption('#x-axis', 'step');
    expect((await chartState(page, 'loss')).data[0]).toEqual(trainLoss.map((m) => m.step));

    // Log scale: the y scale becomes logarithmic and the chart looks different.
    const chartBox = page.locator('.chart[data-title="loss"]');
    const linear = await chartBox.screenshot({ path: path.join(shots, 'loss-linear.png') });
    await page.check('#log-scale');
    loss = await chartState(page, 'loss');
    expect([loss.distr, loss.attrs.log]).toEqual([3, 'true']);
    const logarithmic = await chartBox.screenshot({ path: path.join(shots, 'loss-log.png') });
    expect(logarithmic.equals(linear)).toBe(false);
    await page.uncheck('#log-scale');
    expect((await chartState(page, 'loss')).distr).toBe(1);

    // Smoothing: the curve becomes the EMA of the logged values; 0 gives them back.
    await page.locator('#smoothing').fill('0.9');
    await expect(page.locator('#smoothing-value').textContent()).resolves.toBe('0.90');
    loss = await chartState(page, 'loss');
    expect(loss.attrs.smoothing).toBe('0.9');
    const raw = trainLoss.map((m) => m.values['train/loss']);
    ema(raw, 0.9).forEach((v, i) => expect(loss.data[1][i]).toBeCloseTo(v, 9));
    expect(loss.data[1][7]).not.toBeCloseTo(raw[7], 3);
    await page.screenshot({ path: path.join(shots, 'stage-smoothed.png') });
    await expectNonBlank(path.join(shots, 'stage-smoothed.png'));
    await page.locator('#smoothing').fill('0');
    expect((await chartState(page, 'loss')).data[1]).toEqual(raw);

    // Per-class metrics: one heatmap row per class, one column per epoch, the logged values in the cells.
    const heatmap = page.locator('.heatmap-block[data-title="val/IoU"]');
    await expect(heatmap.isVisible()).resolves.toBe(true);
    expect(await heatmap.locator('tr th:first-child').allTextContents()).toEqual(['class', ...CLASSES]);
    const cells = await heatmap.locator('td').evaluateAll((tds) => tds.map((td) => Number(td.getAttribute('data-value'))));
    const logged = CLASSES.flatMap((c) => run.metrics.filter((m) => `val/IoU/${c}` in m.values).map((m) => m.values[`val/IoU/${c}`]));
    expect(cells).toEqual(logged);

    // Run: command and commit shown; checkpoint links lead to the files.
    await expect(page.locator('#run-info').textContent()).resolves.toContain('0123456789abcdef0123456789abcdef01234567');
    const links = await page.locator('a.checkpoint').evaluateAll((as) => as.map((a) => (a as HTMLAnchorElement).href));
    expect(links.map((href) => fileURLToPath(href))).toEqual(run.checkpoints);

    // Images: one group per key, the last step shown, decoded at the logged size; the slider moves through the steps.
    const keys = [...new Set(run.media.map((m) => m.key))];
    expect(await page.locator('.group').evaluateAll((els) => els.map((e) => e.getAttribute('data-key')))).toEqual(keys);
    for (const key of keys) {
      const entries = run.media.filter((m) => m.key === key);
      const group = page.locator(`.group[data-key="${key}"]`);
      const img = group.locator('img');
      await expect(img.isVisible()).resolves.toBe(true);
      for (const [index, entry] of [...entries.entries()].reverse()) {
        await group.locator('input').fill(String(index));
        await page.waitForFunction(([k, s]) => document.querySelector(`.group[data-key="${k}"]`)?.getAttribute('data-step') === s, [key, String(entry.step)] as const);
        await img.evaluate((el: HTMLImageElement) => el.decode());
        const size = await img.evaluate((el: HTMLImageElement) => ({ width: el.naturalWidth, height: el.naturalHeight, shown: el.getBoundingClientRect().width > 0 }));
        expect(size).toEqual({ width: entry.width, height: entry.height, shown: true });
        await expect(group.locator('.label').textContent()).resolves.toContain(`step ${entry.step}`);
        const file = await group.locator('a.open').evaluate((a) => (a as HTMLAnchorElement).href);
        expect(fileURLToPath(file)).toBe(path.join(run.runDir, entry.path));
      }
    }
    // A wide image is shown at its natural size (no longer capped at 420 px); a tiny one is scaled up to be seen.
    const shownWidth = (key: string) => page.locator(`.group[data-key="${key}"] img`).evaluate((el) => el.getBoundingClientRect().width);
    expect(await shownWidth('predictions')).toBe(WIDE.width);
    expect(await shownWidth('cross-correlation')).toBeGreaterThanOrEqual(128);

    // Click to enlarge (the sliders above left each key at its first step): the lightbox fits the tiny
    // image to the window, a click on it shows it 1:1, Escape closes it.
    const first = run.media.find((m) => m.key === 'cross-correlation')!;
    const lightbox = page.locator('#lightbox');
    await expect(lightbox.isVisible()).resolves.toBe(false);
    await page.locator('.group[data-key="cross-correlation"] img').click();
    await expect(lightbox.isVisible()).resolves.toBe(true);
    const big = lightbox.locator('img');
    const fitted = await big.evaluate((el) => el.getBoundingClientRect().width);
    expect(fitted).toBeGreaterThan(5 * (await shownWidth('cross-correlation')));
    await expect(lightbox.locator('figcaption').textContent()).resolves.toContain(first.caption);
    await page.screenshot({ path: path.join(shots, 'lightbox.png') });
    await expectNonBlank(path.join(shots, 'lightbox.png'));
    await big.click();
    expect(await lightbox.getAttribute('data-zoom')).toBe('natural');
    expect(await big.evaluate((el) => el.getBoundingClientRect().width)).toBe(first.width);
    await page.keyboard.press('Escape');
    await expect(lightbox.isVisible()).resolves.toBe(false);

    // Summary and config are on the page.
    await expect(page.locator('#summary').textContent()).resolves.toContain('val/mIoU');
    await expect(page.locator('#config').textContent()).resolves.toContain('<script>alert(1)</script>');
    expect(problems.filter((p) => !p.startsWith('warning:'))).toEqual([]);
    expect(requests.filter((u) => !u.startsWith('file:') && !u.startsWith('data:'))).toEqual([]);
    await context.close();
  });

  test('pipeline report: the stages\' val curves on one chart, final metrics side by side, links to each stage\'s report', async () => {
    const { dir, runs } = fakePipeline({ finetune: 1.5, scratch: 1 });
    await report.run([dir], {}, { cwd: process.cwd(), log } as never);
    const { context, page, problems, requests } = await open(path.join(dir, 'report.html'));
    expect(problems).toEqual([]);
    await page.screenshot({ path: path.join(shots, 'pipeline.png'), fullPage: true });
    await expectNonBlank(path.join(shots, 'pipeline.png'));

    const charts = await page.evaluate(() => (window as any).btReport.charts.map((c: any) => ({ title: c.title, keys: c.keys, colors: c.colors })));
    expect(charts.map((c: any) => [c.title, c.keys])).toEqual([['val/loss', ['finetune', 'scratch']], ['val/mIoU', ['finetune', 'scratch']]]);
    for (const colour of charts[1].colors) expect(await page.evaluate(countColour, ['val/mIoU', colour] as [string, string])).toBeGreaterThan(20);
    const valMiou = (stage: string) => runs[stage].metrics.filter((m) => 'val/mIoU' in m.values).map((m) => m.values['val/mIoU']);
    await page.selectOption('#x-axis', 'epoch');
    const miou = await chartState(page, 'val/mIoU');
    expect(miou.data).toEqual([[1, 2], valMiou('finetune'), valMiou('scratch')]);
    expect(miou.legendX).toBe('epoch');
    await page.check('#log-scale');
    expect((await chartState(page, 'val/mIoU')).distr).toBe(3);

    const finals = await page.locator('#final-metrics tr[data-key="val/mIoU"] td').allTextContents();
    expect(finals).toEqual(['val/mIoU', '0.6', '0.4']);
    expect(problems.filter((p) => !p.startsWith('warning:'))).toEqual([]);
    expect(requests.filter((u) => !u.startsWith('file:') && !u.startsWith('data:'))).toEqual([]);

    // The stage link opens that stage's report, which links back.
    await page.locator('#stages a', { hasText: 'scratch' }).click();
    await page.waitForFunction(() => (window as any).btReport?.ready === true);
    expect(fileURLToPath(page.url())).toBe(path.join(dir, 'scratch', 'report.html'));
    const back = await page.locator('#pipeline-link').evaluate((a) => (a as HTMLAnchorElement).href);
    expect(fileURLToPath(back)).toBe(path.join(dir, 'report.html'));
    await context.close();
  });
});
