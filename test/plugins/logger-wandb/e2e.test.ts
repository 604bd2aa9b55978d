import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { definePlugin, Slots } from '@bt-platform/sdk';
import { runTinyFit } from '@bt-platform/sdk/testing';
import { syncRun } from '../../../plugins/logger-wandb/src/SyncCommand.js';
import { FakeWandbServer } from './FakeWandbServer.js';
import { FAKE_KEY, readJsonl, recordingLog } from './harness.js';
import { tinyPng } from './tinyPng.js';

/** A callback that logs one image at every validation end, through the core's media API. */
const probePlugin = definePlugin({
  name: 'test-media-probe',
  register(registrar) {
    registrar.component(Slots.callback, {
      name: 'media-probe',
      create: (_options, ctx) => ({
        apply(hooks) {
          hooks.validationEnd.tapPromise('media-probe', async (event) => {
            const file = ctx.mediaPath('probe/view');
            writeFileSync(file, tinyPng(12 + event.epoch, 9, [30, 60 * event.epoch, 200]));
            await ctx.logMedia({ key: 'probe/view', path: file, caption: `epoch ${event.epoch}` });
          });
        },
      }),
    });
  },
});

describe('wandb logger and html report in a real (tiny) run', () => {
  test('an offline run journals every metric and image of the run directory, writes the report, and syncs completely', async () => {
    const saved = { ...process.env };
    delete process.env.WANDB_API_KEY;
    let result;
    try {
      result = await runTinyFit({
        plugins: [probePlugin],
        config: {
          name: 'e2e-wandb',
          loggers: [{ use: 'wandb', mode: 'offline', project: 'e2e' }],
          callbacks: [{ use: 'media-probe' }, { use: 'html-report' }],
        },
      });
    } finally {
      process.env = saved;
    }
    expect(result.status).toBe('completed');
    const { runDir } = result;
    const core = readJsonl(path.join(runDir, 'metrics.jsonl'));
    const coreMedia = readJsonl(path.join(runDir, 'media.jsonl'));
    expect(coreMedia.length).toBeGreaterThan(0);
    const rows = readJsonl(path.join(runDir, 'wandb', 'history.jsonl'));
    const byStep = new Map(rows.map((r) => [r._step, r]));
    for (const line of core) {
      for (const [key, value] of Object.entries(line.values as Record<string, number>)) expect(byStep.get(line.step)?.[key]).toBe(value);
    }
    for (const entry of coreMedia) {
      const ref = byStep.get(entry.step)?.[entry.key];
      expect(ref).toMatchObject({ _type: 'image-file', size: readFileSync(path.join(runDir, entry.path)).length, caption: entry.caption });
    }
    expect(JSON.parse(readFileSync(path.join(runDir, 'wandb', 'status.json'), 'utf8'))).toMatchObject({ finished: true, status: 'completed' });
    const report = readFileSync(path.join(runDir, 'report.html'), 'utf8');
    expect(report).toContain('probe/view');
    expect(report).toContain('train/loss');
    expect(existsSync(path.join(runDir, 'summary.json'))).toBe(true);

    const server = await new FakeWandbServer().start();
    try {
      Object.assign(process.env, { WANDB_API_KEY: FAKE_KEY, WANDB_BASE_URL: server.url });
      const { log } = recordingLog();
      const sync = await syncRun(runDir, log, { flushTimeoutMs: 20000 });
      expect(sync.complete).toBe(true);
      expect(server.historyLines().map(({ _runtime, _timestamp, ...row }) => row)).toEqual(rows);
      expect(server.uploads.size).toBe(coreMedia.length);
    } finally {
      process.env = saved;
      await server.stop();
    }
  });
});
