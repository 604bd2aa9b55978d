import { readFileSync } from 'node:fs';
import path from 'node:path';
import { closedPort, FakeWandbServer, type ServerBehaviour } from './FakeWandbServer.js';
import { driveLogger, FAKE_KEY, makeLogger, readJsonl, recordingLog, tempRunDir } from './harness.js';

/** Short network bounds so that every failure mode settles in about a second. */
const FAST = { timeoutMs: 600, retries: 1, flushTimeoutMs: 1500 };

async function runAgainst(baseUrl: string, afterStart?: () => Promise<void>, options = FAST) {
  const runDir = tempRunDir();
  const { log, lines } = recordingLog();
  const logger = makeLogger(runDir, options, log, { WANDB_API_KEY: FAKE_KEY, WANDB_BASE_URL: baseUrl });
  const logged = await driveLogger(logger, runDir, 6, afterStart);
  const status = JSON.parse(readFileSync(path.join(runDir, 'wandb', 'status.json'), 'utf8'));
  const journal = readJsonl(path.join(runDir, 'wandb', 'history.jsonl'));
  return { runDir, lines, logged, status, journal };
}

function expectKeptLocally(result: Awaited<ReturnType<typeof runAgainst>>) {
  expect(result.journal.map((r) => r._step)).toEqual([...result.logged.scalars.keys()]);
  expect(result.status).toMatchObject({ finished: true, status: 'completed' });
  expect(result.status.sent.complete).toBe(false);
  const warnings = result.lines.filter((l) => l.level === 'warn').map((l) => l.text);
  // The summary names what was not sent and how to send it later.
  expect(warnings.at(-1)).toMatch(/not everything was sent.*bt-platform sync/);
  for (const line of result.lines) expect(line.text).not.toContain(FAKE_KEY);
  return warnings;
}

describe('wandb logger never stops training', () => {
  const servers: FakeWandbServer[] = [];
  afterAll(async () => {
    for (const s of servers) await s.stop();
  });
  async function serve(behaviour: ServerBehaviour) {
    const server = await new FakeWandbServer().start();
    server.behaviour = behaviour;
    servers.push(server);
    return server;
  }

  /** Waits until @wandb/sdk (loaded in its thread) has reached the server, so that the bounds below apply to the network alone. */
  function firstRequest(server: FakeWandbServer) {
    return async () => {
      for (let i = 0; server.requests.length === 0; i++) {
        if (i > 1000) throw new Error('no request reached the server');
        await new Promise((r) => setTimeout(r, 20));
      }
    };
  }

  /** Lets the run be created, then switches the server to `behaviour`. */
  function failAfterCreation(server: FakeWandbServer, behaviour: ServerBehaviour) {
    return async () => {
      for (let i = 0; server.graphql('UpsertBucket').length === 0; i++) {
        if (i > 1000) throw new Error('the run was never created');
        await new Promise((r) => setTimeout(r, 20));
      }
      server.behaviour = behaviour;
    };
  }
  // @wandb/sdk polls its queue once a second: creating a run takes more than FAST's timeout.
  const SLOW_CREATE = { ...FAST, timeoutMs: 3000 };

  test('HTTP 500 on every request: the run completes, the problem is named, everything is kept', async () => {
    const server = await serve('error500');
    const result = await runAgainst(server.url, firstRequest(server));
    const warnings = expectKeptLocally(result);
    expect(warnings.some((w) => w.includes('creating the run'))).toBe(true);
    expect(server.requests.length).toBeGreaterThan(0);
  });

  test('a hung endpoint (never answers): teardown abandons within its bound', async () => {
    const server = await serve('hang');
    const result = await runAgainst(server.url, firstRequest(server));
    const warnings = expectKeptLocally(result);
    expect(warnings.some((w) => w.includes(`did not finish within ${FAST.timeoutMs} ms`))).toBe(true);
  });

  test('connection refused: the run completes with a warning', async () => {
    // A generous flush bound: the refusal itself, not the deadline, must end the attempt.
    const result = await runAgainst(`http://127.0.0.1:${await closedPort()}`, undefined, { ...FAST, flushTimeoutMs: 20000 });
    const warnings = expectKeptLocally(result);
    expect(warnings.some((w) => w.includes('creating the run'))).toBe(true);
  });

  test('the endpoint fails after the run was created: images are retried then given up, rows stay for sync', async () => {
    const server = await serve('ok');
    // Flush bound long enough for the upload retries to fail on their own (HTTP 500 answers at once).
    const result = await runAgainst(server.url, failAfterCreation(server, 'error500'), { ...SLOW_CREATE, flushTimeoutMs: 4000 });
    const warnings = expectKeptLocally(result);
    expect(server.graphql('UpsertBucket').length).toBeGreaterThan(0);
    expect(warnings.some((w) => /image media\/images\/.* not uploaded: .*HTTP 500/.test(w))).toBe(true);
    expect(result.status.sent.imagesNotSent.length).toBe(result.logged.images.length);
  });

  test('the endpoint hangs after the run was created: teardown abandons after flushTimeoutMs and says so', async () => {
    const server = await serve('ok');
    const result = await runAgainst(server.url, failAfterCreation(server, 'hang'), SLOW_CREATE);
    const warnings = expectKeptLocally(result);
    expect(warnings.some((w) => w.includes(`sending did not finish within ${FAST.flushTimeoutMs} ms; abandoned the rest`))).toBe(true);
  });
});
