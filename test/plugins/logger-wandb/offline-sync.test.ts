import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { resolveMode } from '../../../plugins/logger-wandb/src/WandbLogger.js';
import { syncRun } from '../../../plugins/logger-wandb/src/SyncCommand.js';
import plugin from '../../../plugins/logger-wandb/src/index.js';
import { FakeWandbServer } from './FakeWandbServer.js';
import { allFiles, driveLogger, FAKE_KEY, makeLogger, readJsonl, recordingLog, tempRunDir } from './harness.js';

describe('wandb logger, offline first', () => {
  let server: FakeWandbServer;
  beforeAll(async () => {
    server = await new FakeWandbServer().start();
  });
  afterAll(async () => server.stop());

  test('the mode comes from the option, else WANDB_MODE; online without a key falls back to offline', () => {
    expect(resolveMode(undefined, { WANDB_API_KEY: FAKE_KEY })).toEqual({ mode: 'online' });
    expect(resolveMode(undefined, { WANDB_API_KEY: FAKE_KEY, WANDB_MODE: 'offline' })).toEqual({ mode: 'offline' });
    expect(resolveMode(undefined, { WANDB_API_KEY: FAKE_KEY, WANDB_MODE: 'dryrun' })).toEqual({ mode: 'offline' });
    expect(resolveMode('online', { WANDB_MODE: 'offline', WANDB_API_KEY: FAKE_KEY })).toEqual({ mode: 'online' });
    expect(resolveMode('online', {})).toEqual({ mode: 'offline', reason: 'WANDB_API_KEY is not set' });
    expect(resolveMode(undefined, { WANDB_MODE: 'disabled' })).toEqual({ mode: 'disabled' });
  });

  test('without an API key: a warning, no login prompt, no request, everything journaled', async () => {
    const before = server.requests.length;
    const runDir = tempRunDir();
    const { log, lines } = recordingLog();
    const logger = makeLogger(runDir, { mode: 'online' }, log, { WANDB_BASE_URL: server.url });
    expect(logger.mode).toBe('offline');
    const logged = await driveLogger(logger, runDir);
    expect(server.requests.length).toBe(before);
    expect(lines.filter((l) => l.level === 'warn').map((l) => l.text)).toEqual([expect.stringContaining('WANDB_API_KEY is not set')]);
    expect(readJsonl(path.join(runDir, 'wandb', 'history.jsonl')).map((r) => r._step)).toEqual([...logged.scalars.keys()]);
  });

  test('disabled mode writes nothing and sends nothing', async () => {
    const before = server.requests.length;
    const runDir = tempRunDir();
    const { log } = recordingLog();
    await driveLogger(makeLogger(runDir, { mode: 'disabled' }, log, { WANDB_API_KEY: FAKE_KEY, WANDB_BASE_URL: server.url }), runDir);
    expect(server.requests.length).toBe(before);
    expect(existsSync(path.join(runDir, 'wandb'))).toBe(false);
  });

  test('an offline run sends nothing; `sync` replays it completely: run, config, every step, every image', async () => {
    const runDir = tempRunDir();
    const { log } = recordingLog();
    const env = { WANDB_API_KEY: FAKE_KEY, WANDB_BASE_URL: server.url };
    const before = server.requests.length;
    const logged = await driveLogger(makeLogger(runDir, { mode: 'offline', tags: ['offline'] }, log, env), runDir);
    expect(server.requests.length).toBe(before);

    const journal = path.join(runDir, 'wandb');
    const run = JSON.parse(readFileSync(path.join(journal, 'run.json'), 'utf8'));
    expect(run).toMatchObject({ project: 'bt-test', mode: 'offline', tags: ['offline'] });
    expect(JSON.parse(readFileSync(path.join(journal, 'config.json'), 'utf8')).secrets.apiKey).toBe('<redacted>');
    const media = readJsonl(path.join(journal, 'media.jsonl'));
    expect(media.map((m) => path.resolve(runDir, m.file))).toEqual(logged.images.map((i) => i.path));

    const sync = recordingLog();
    const previous = { ...process.env };
    Object.assign(process.env, env);
    let report;
    try {
      report = await syncRun(runDir, sync.log, { flushTimeoutMs: 20000 });
    } finally {
      process.env = previous;
    }
    expect(report.complete).toBe(true);
    const sent = server.requests.slice(before);
    const upsert = sent.find((r) => r.json?.query?.includes('UpsertBucket') && r.json.variables.config)!;
    expect(upsert.json.variables.name).toBe(run.id);
    expect(JSON.parse(upsert.json.variables.config).trainer.value).toEqual({ maxEpochs: 2 });
    const history = sent.filter((r) => r.path.endsWith('/file_stream')).flatMap((r) => (r.json.files?.['wandb-history.jsonl']?.content ?? []).map((l: string) => JSON.parse(l)));
    expect(history.map((r) => r._step)).toEqual([...logged.scalars.keys()]);
    for (const row of history) {
      for (const [key, value] of Object.entries(logged.scalars.get(row._step)!)) expect(row[key]).toBeCloseTo(value, 12);
    }
    for (const image of logged.images) {
      const ref = history.find((r) => r._step === image.step)[image.key];
      expect(server.uploads.get(ref.path)).toEqual(readFileSync(image.path));
    }
    expect(sent.filter((r) => r.path.endsWith('/file_stream')).at(-1)!.json).toEqual({ complete: true, exitcode: 0 });
    const status = JSON.parse(readFileSync(path.join(journal, 'status.json'), 'utf8'));
    expect(status.sent.complete).toBe(true);
    for (const file of allFiles(runDir)) expect(readFileSync(file).toString('latin1')).not.toContain(FAKE_KEY);
    for (const line of sync.lines) expect(line.text).not.toContain(FAKE_KEY);
  });

  test('the plugin offers the `sync` command, which refuses a directory without a journal', async () => {
    const command = plugin.commands!.find((c) => c.name === 'sync')!;
    expect(command.args).toBe('<runDir>');
    const { log } = recordingLog();
    await expect(command.run([tempRunDir()], {}, { cwd: process.cwd(), log } as never)).rejects.toMatchObject({ code: 'DATA_MISSING' });
  });

  test('logging online into a run directory logged before resends the earlier rows first, under the same run id', async () => {
    const runDir = tempRunDir();
    const { log, lines } = recordingLog();
    const env = { WANDB_API_KEY: FAKE_KEY, WANDB_BASE_URL: server.url };
    const first = await driveLogger(makeLogger(runDir, { mode: 'offline' }, log, env), runDir);
    const before = server.requests.length;
    const second = await driveLogger(makeLogger(runDir, { mode: 'online' }, log, env), runDir, 6, undefined, 6);
    expect(lines.filter((l) => l.level === 'warn')).toEqual([]);
    const sent = server.requests.slice(before);
    const history = sent.filter((r) => r.path.endsWith('/file_stream')).flatMap((r) => (r.json.files?.['wandb-history.jsonl']?.content ?? []).map((l: string) => JSON.parse(l)));
    expect(history.map((r) => r._step)).toEqual([...first.scalars.keys(), ...second.scalars.keys()]);
    const run = JSON.parse(readFileSync(path.join(runDir, 'wandb', 'run.json'), 'utf8'));
    expect(sent.filter((r) => r.json?.query?.includes('UpsertBucket')).every((r) => r.json.variables.name === run.id)).toBe(true);
    expect(sent.filter((r) => r.method === 'PUT')).toHaveLength(first.images.length + second.images.length);
  });
});
