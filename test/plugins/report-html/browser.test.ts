import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { writeReport } from '../../../plugins/report-html/src/HtmlReport.js';
import { fakeRun } from './fakeRun.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const hasBrowser = existsSync(CHROMIUM);
if (!hasBrowser) {
  console.warn(`report-html browser test skipped: no Chromium at ${CHROMIUM} (install Debian's \`chromium\` package, or set CHROMIUM_PATH).`);
}
const describeBrowser = hasBrowser ? describe : describe.skip;

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

describeBrowser('html report in headless Chromium', () => {
  let browser: import('playwright-core').Browser;

  beforeAll(async () => {
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
  });
  afterAll(async () => {
    await browser?.close();
  });

  test('loads offline without console errors, charts hold and draw the logged values, images are visible with a working step slider', async () => {
    const run = fakeRun();
    const file = await writeReport(run.runDir);
    const context = await browser.newContext({ offline: true });
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
    // Nothing to report while the page loads (the pixel reads below cause a harmless readback warning of their own).
    expect(problems).toEqual([]);

    // Charts: the uPlot instances hold exactly the logged values at their steps.
    const charts = await page.evaluate(() => (window as any).btReport.charts.map((c: any) => ({ title: c.title, keys: c.keys, colors: c.colors, data: c.plot.data })));
    expect(charts.map((c: any) => c.title).sort()).toEqual(['loss', 'lr', 'mIoU']);
    for (const line of run.metrics) {
      for (const [key, value] of Object.entries(line.values)) {
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
      }
    }

    // Summary and config are on the page.
    await expect(page.locator('#summary').textContent()).resolves.toContain('val/mIoU');
    await expect(page.locator('#config').textContent()).resolves.toContain('<script>alert(1)</script>');
    expect(problems.filter((p) => !p.startsWith('warning:'))).toEqual([]);
    expect(requests.filter((u) => !u.startsWith('file:') && !u.startsWith('data:'))).toEqual([]);
    await context.close();
  });
});
