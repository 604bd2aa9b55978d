import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createLifecycleHooks, Slots, type ComponentDefinition, type Logger, type Registrar } from '@bt-platform/sdk';
import plugin from '../../../plugins/logger-wandb/src/index.js';
import { WandbLogger } from '../../../plugins/logger-wandb/src/WandbLogger.js';
import { FakeWandbServer } from './FakeWandbServer.js';
import { allFiles, driveLogger, FAKE_KEY, makeLogger, readJsonl, recordingLog, runConfig, tempRunDir } from './harness.js';

describe('wandb logger, online, against a local wandb endpoint', () => {
  const saved = { ...process.env };
  let server: FakeWandbServer;

  beforeAll(async () => {
    server = await new FakeWandbServer().start();
    process.env.WANDB_API_KEY = FAKE_KEY;
    process.env.WANDB_BASE_URL = server.url;
    delete process.env.WANDB_MODE;
  });
  afterAll(async () => {
    process.env = saved;
    await server.stop();
  });

  let runDir: string;
  let lines: ReturnType<typeof recordingLog>['lines'];
  let logged: Awaited<ReturnType<typeof driveLogger>>;
  let logger: WandbLogger;

  beforeAll(async () => {
    runDir = tempRunDir();
    const rec = recordingLog();
    lines = rec.lines;
    // Through the plugin's registration, so the options schema's defaults apply.
    let definition: ComponentDefinition<Logger> | undefined;
    const registrar: Registrar = {
      component(slot, def) {
        if (slot === Slots.logger && def.name === 'wandb') definition = def as unknown as ComponentDefinition<Logger>;
      },
    };
    plugin.register!(registrar, {});
    const options = definition!.options!.parse({ project: 'bt-test', tags: ['tiny', 'ci'], group: 'g1', notes: 'a note' });
    logger = (await definition!.create(options, { config: runConfig(), runDir, log: rec.log } as never)) as WandbLogger;
    expect(logger).toBeInstanceOf(WandbLogger);
    expect(logger.mode).toBe('online');
    logged = await driveLogger(logger, runDir);
  });

  test('@wandb/sdk asks for the default entity, then creates the run with the (redacted) config', () => {
    expect(server.graphql('query Viewer').length).toBeGreaterThan(0);
    const upserts = server.graphql('mutation UpsertBucket').filter((r) => r.json.variables.config !== undefined);
    expect(upserts).toHaveLength(1);
    const vars = upserts[0].json.variables;
    const run = JSON.parse(readFileSync(path.join(runDir, 'wandb', 'run.json'), 'utf8'));
    expect(vars).toMatchObject({ name: run.id, project: 'bt-test', entity: 'test-entity', displayName: 'tiny-run' });
    expect(run.id).toMatch(/^[a-z0-9]{8}$/);
    const config = JSON.parse(vars.config);
    const expected = runConfig();
    expect(config.trainer).toEqual({ value: expected.trainer, desc: null });
    expect(config.optimizer.value).toEqual(expected.optimizer);
    expect(config.secrets.value.apiKey).toBe('<redacted>');
    expect(config.secrets.value.hfToken).toBe('<redacted>');
    expect(config.note.value).not.toContain(FAKE_KEY);
  });

  test('tags, group and notes reach the run through a second upsert', () => {
    const meta = server.graphql('mutation UpsertBucket').filter((r) => r.json.variables.tags !== undefined);
    expect(meta).toHaveLength(1);
    expect(meta[0].json.variables).toMatchObject({ tags: ['tiny', 'ci'], groupName: 'g1', notes: 'a note', entity: 'test-entity' });
  });

  test('every logged scalar arrives in wandb-history.jsonl at its step, images on the same step as the metrics', () => {
    const history = server.historyLines();
    const byStep = new Map(history.map((row) => [row._step, row]));
    expect(history.map((r) => r._step)).toEqual([...logged.scalars.keys()]);
    for (const [step, values] of logged.scalars) {
      for (const [key, value] of Object.entries(values)) expect(byStep.get(step)![key]).toBeCloseTo(value, 12);
    }
    for (const image of logged.images) {
      const ref = byStep.get(image.step)![image.key];
      const bytes = readFileSync(image.path);
      expect(ref).toMatchObject({
        _type: 'image-file',
        sha256: createHash('sha256').update(bytes).digest('hex'),
        size: bytes.length,
        format: 'png',
        width: bytes.readUInt32BE(16),
        height: bytes.readUInt32BE(20),
        caption: image.caption,
      });
      expect(ref.path).toMatch(/^media\/images\/attention\/val_0_\d+_[0-9a-f]{20}\.png$/);
    }
    const last = server.fileStream().at(-1)!.json;
    expect(last).toEqual({ complete: true, exitcode: 0 });
  });

  test('images are uploaded through CreateRunFiles and a PUT to the signed URL, byte for byte', () => {
    const refs = server.historyLines().flatMap((row) => Object.values(row).filter((v: any) => v?._type === 'image-file')) as Array<{ path: string }>;
    expect(refs).toHaveLength(logged.images.length);
    const asked = server.graphql('mutation CreateRunFiles').flatMap((r) => r.json.variables.files);
    expect(asked.sort()).toEqual(refs.map((r) => r.path).sort());
    for (const request of server.graphql('mutation CreateRunFiles')) {
      const run = JSON.parse(readFileSync(path.join(runDir, 'wandb', 'run.json'), 'utf8'));
      expect(request.json.variables).toMatchObject({ entity: 'test-entity', project: 'bt-test', run: run.id });
    }
    for (const [i, ref] of refs.entries()) {
      expect(server.uploads.get(ref.path)).toEqual(readFileSync(logged.images[i].path));
    }
    const puts = server.requests.filter((r) => r.method === 'PUT');
    expect(puts.every((r) => r.headers['x-upload-test'] === 'yes')).toBe(true);
    const notices = server.fileStream().flatMap((r) => r.json?.uploaded ?? []);
    expect(notices.sort()).toEqual(refs.map((r) => r.path).sort());
  });

  test('the run directory journals exactly the rows that were sent, and reports success', () => {
    const journal = readJsonl(path.join(runDir, 'wandb', 'history.jsonl'));
    const sent = server.historyLines().map(({ _runtime, _timestamp, ...row }) => row);
    expect(journal).toEqual(sent);
    const status = JSON.parse(readFileSync(path.join(runDir, 'wandb', 'status.json'), 'utf8'));
    expect(status).toMatchObject({ finished: true, status: 'completed', rows: logged.scalars.size, images: logged.images.length });
    expect(status.sent.complete).toBe(true);
    expect(lines.filter((l) => l.level === 'warn')).toEqual([]);
    expect(lines.some((l) => l.level === 'info' && l.text.includes(`sent ${logged.scalars.size} steps and ${logged.images.length} images`))).toBe(true);
  });

  test('the API key and env tokens appear in no file, log line or request body', () => {
    const encoded = Buffer.from(`api:${FAKE_KEY}`).toString('base64');
    const needles = [FAKE_KEY, encoded, 'x'.repeat(12)];
    for (const file of allFiles(runDir)) {
      const text = readFileSync(file).toString('latin1');
      for (const needle of needles) expect({ file, leaked: text.includes(needle) }).toEqual({ file, leaked: false });
    }
    for (const line of lines) for (const needle of needles) expect(line.text).not.toContain(needle);
    for (const request of server.requests) {
      const body = request.body.toString('latin1');
      for (const needle of needles) expect({ path: request.path, leaked: body.includes(needle) }).toEqual({ path: request.path, leaked: false });
    }
    // The key is only ever sent as HTTP basic auth to the API, never to the signed upload URLs.
    const api = server.requests.filter((r) => r.method !== 'PUT');
    expect(api.every((r) => r.headers.authorization === `Basic ${encoded}`)).toBe(true);
    expect(server.requests.filter((r) => r.method === 'PUT').every((r) => r.headers.authorization === undefined)).toBe(true);
  });
});

describe('wandb logger options', () => {
  test('logEvery thins per-step training scalars but keeps evaluation metrics and images', async () => {
    const server = await new FakeWandbServer().start();
    try {
      const runDir = tempRunDir();
      const { log } = recordingLog();
      const logger = makeLogger(runDir, { logEvery: 2, entity: 'my-team' }, log, { WANDB_API_KEY: FAKE_KEY, WANDB_BASE_URL: server.url });
      const logged = await driveLogger(logger, runDir);
      expect(server.graphql('mutation UpsertBucket')[0].json.variables.entity).toBe('my-team');
      const steps = server.historyLines().map((r) => r._step);
      const expected = [...logged.scalars.keys()].filter((s) => s % 2 === 0 || logged.images.some((i) => i.step === s));
      expect(steps).toEqual(expected);
      const odd = server.historyLines().find((r) => r._step % 2 === 1)!;
      expect(odd['train/loss']).toBeUndefined();
      expect(odd['val/loss']).toBeDefined();
      expect(odd['train/loss_epoch']).toBeDefined();
    } finally {
      await server.stop();
    }
  });

  test('an interrupted run (Ctrl-C: teardown without fitEnd) flushes its last step and ends the wandb run with exit code 255', async () => {
    const server = await new FakeWandbServer().start();
    try {
      const runDir = tempRunDir();
      const { log } = recordingLog();
      const logger = makeLogger(runDir, {}, log, { WANDB_API_KEY: FAKE_KEY, WANDB_BASE_URL: server.url });
      const hooks = createLifecycleHooks();
      await logger.apply(hooks);
      await hooks.fitStart.promise({ startEpoch: 0, globalStep: 0, maxEpochs: 1, maxSteps: 3, resumed: false });
      await hooks.metrics.promise({ epoch: 0, step: 1, values: { 'train/loss': 0.25 } });
      await hooks.metrics.promise({ epoch: 0, step: 2, values: { 'train/loss': 0.125 } });
      await hooks.teardown.promise({ status: 'interrupted' });
      expect(server.historyLines().map((r) => [r._step, r['train/loss']])).toEqual([[1, 0.25], [2, 0.125]]);
      expect(server.fileStream().at(-1)!.json).toEqual({ complete: true, exitcode: 255 });
      expect(JSON.parse(readFileSync(path.join(runDir, 'wandb', 'status.json'), 'utf8'))).toMatchObject({ finished: true, status: 'interrupted', rows: 2 });
    } finally {
      await server.stop();
    }
  });

  test('a server without createRunFiles gets the images through RunUploadUrls, as the Python client falls back', async () => {
    const server = await new FakeWandbServer().start();
    server.legacy = true;
    try {
      const runDir = tempRunDir();
      const { log, lines } = recordingLog();
      const logged = await driveLogger(makeLogger(runDir, {}, log, { WANDB_API_KEY: FAKE_KEY, WANDB_BASE_URL: server.url }), runDir);
      expect(lines.filter((l) => l.level === 'warn')).toEqual([]);
      const asked = server.graphql('query RunUploadUrls');
      expect(asked).toHaveLength(logged.images.length);
      expect(asked[0].json.variables).toMatchObject({ name: 'bt-test', entity: 'test-entity' });
      // Tried by the first uploads in flight (two at a time), then remembered.
      expect(server.graphql('mutation CreateRunFiles').length).toBeGreaterThanOrEqual(1);
      expect(server.graphql('mutation CreateRunFiles').length).toBeLessThanOrEqual(2);
      for (const image of logged.images) {
        const ref = server.historyLines().find((r) => r._step === image.step)![image.key];
        expect(server.uploads.get(ref.path)).toEqual(readFileSync(image.path));
      }
      expect(server.requests.filter((r) => r.method === 'PUT').every((r) => r.headers['x-upload-test'] === 'legacy')).toBe(true);
    } finally {
      await server.stop();
    }
  });
});
