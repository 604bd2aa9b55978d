import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { redact, redactText, secretValues } from '@bt-platform/sdk';
import { runTinyFit } from '@bt-platform/sdk/testing';
import { syncRun } from '../../../plugins/logger-wandb/src/SyncCommand.js';
import { FakeWandbServer } from './FakeWandbServer.js';
import { allFiles, FAKE_KEY, recordingLog } from './harness.js';

/** A GitHub token pasted into the run notes: recognised by its form, not by an environment variable. */
const GITHUB_TOKEN = `ghp_${'A1b2C3d4E5f6'.repeat(3)}`;

describe('secrets typed into a config never reach a wandb file or request', () => {
  const saved = { ...process.env };
  let server: FakeWandbServer;

  beforeAll(async () => {
    server = await new FakeWandbServer().start();
    Object.assign(process.env, { WANDB_API_KEY: FAKE_KEY, WANDB_BASE_URL: server.url });
    delete process.env.WANDB_MODE;
  });
  afterAll(async () => {
    process.env = saved;
    await server.stop();
  });

  function expectNoLeak(runDir: string): void {
    const encoded = Buffer.from(`api:${FAKE_KEY}`).toString('base64');
    for (const file of allFiles(runDir)) {
      const text = readFileSync(file).toString('latin1');
      for (const needle of [FAKE_KEY, GITHUB_TOKEN, encoded]) expect({ file, needle, leaked: text.includes(needle) }).toEqual({ file, needle, leaked: false });
    }
    expect(server.requests.length).toBeGreaterThan(0);
    for (const request of server.requests) {
      const body = request.body.toString('latin1');
      for (const needle of [FAKE_KEY, GITHUB_TOKEN, encoded]) expect({ path: request.path, needle, leaked: body.includes(needle) }).toEqual({ path: request.path, needle, leaked: false });
    }
  }

  test('online: notes, tags, name and config are masked in the run directory and in every request body', async () => {
    const wandb = {
      use: 'wandb',
      project: 'bt-test',
      name: `run with ${GITHUB_TOKEN}`,
      notes: `token ${GITHUB_TOKEN}, key ${FAKE_KEY}`,
      tags: ['tiny', `k-${FAKE_KEY}`],
      group: `g-${GITHUB_TOKEN}`,
      flushTimeoutMs: 20000,
    };
    const result = await runTinyFit({ config: { name: 'secret-notes', trainer: { maxEpochs: 1 }, loggers: [wandb] } });
    expect(result.status).toBe('completed');
    expectNoLeak(result.runDir);

    const run = JSON.parse(readFileSync(path.join(result.runDir, 'wandb', 'run.json'), 'utf8'));
    expect(run.notes).toBe('token <redacted>, key <redacted>');
    expect(run.tags).toEqual(['tiny', 'k-<redacted>']);
    const meta = server.graphql('mutation UpsertBucket').find((r) => r.json.variables.notes !== undefined)!;
    expect(meta.json.variables).toMatchObject({ notes: 'token <redacted>, key <redacted>', tags: ['tiny', 'k-<redacted>'], groupName: 'g-<redacted>' });
    const created = server.graphql('mutation UpsertBucket').find((r) => r.json.variables.config !== undefined)!;
    expect(created.json.variables.displayName).toBe('run with <redacted>');
    expect(JSON.parse(created.json.variables.config).loggers.value[0].notes).toBe('token <redacted>, key <redacted>');
  });

  test('sync masks a journal written before masking existed', async () => {
    const result = await runTinyFit({ config: { name: 'old-journal', trainer: { maxEpochs: 1 }, loggers: [{ use: 'wandb', mode: 'offline', project: 'bt-test' }] } });
    const runFile = path.join(result.runDir, 'wandb', 'run.json');
    const configFile = path.join(result.runDir, 'wandb', 'config.json');
    writeFileSync(runFile, JSON.stringify({ ...JSON.parse(readFileSync(runFile, 'utf8')), notes: `token ${GITHUB_TOKEN}`, tags: [GITHUB_TOKEN] }));
    writeFileSync(configFile, JSON.stringify({ notes: `key ${FAKE_KEY}` }));
    server.requests.length = 0;
    const { log } = recordingLog();
    const report = await syncRun(result.runDir, log, { flushTimeoutMs: 20000 });
    expect(report.complete).toBe(true);
    for (const request of server.requests) {
      const body = request.body.toString('latin1');
      for (const needle of [FAKE_KEY, GITHUB_TOKEN]) expect({ path: request.path, needle, leaked: body.includes(needle) }).toEqual({ path: request.path, needle, leaked: false });
    }
  });
});

describe('the SDK redaction the core and the wandb logger share', () => {
  test('masks env credentials, token forms and URL passwords, and leaves look-alikes alone', () => {
    const env = { HF_TOKEN: 'hf-env-value-123', SSH_KEY: 'ssh-key-value-456', GIT_AUTHOR_NAME: 'Ada Lovelace', SHORT_TOKEN: 'abc' };
    const secrets = secretValues(env);
    expect(secrets).toEqual(['ssh-key-value-456', 'hf-env-value-123']);
    const text = `a hf-env-value-123 b ${GITHUB_TOKEN} c https://ada:hunter22@data.example/voc.tar by Ada Lovelace at commit ${'0a'.repeat(20)}`;
    expect(redactText(text, secrets)).toBe(`a <redacted> b <redacted> c https://ada:<redacted>@data.example/voc.tar by Ada Lovelace at commit ${'0a'.repeat(20)}`);
    expect(redact({ apiKey: 42, authorName: 'Ada', nested: [{ token: true, note: GITHUB_TOKEN }] }, secrets)).toEqual({
      apiKey: '<redacted>',
      authorName: 'Ada',
      nested: [{ token: '<redacted>', note: '<redacted>' }],
    });
  });
});
