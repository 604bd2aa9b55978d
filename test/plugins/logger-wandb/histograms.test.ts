import path from 'node:path';
import { createLifecycleHooks } from '@bt-platform/sdk';
import { wandbHistogram } from '../../../plugins/logger-wandb/src/WandbHistograms.js';
import { FakeWandbServer } from './FakeWandbServer.js';
import { FAKE_KEY, makeLogger, readJsonl, recordingLog, tempRunDir } from './harness.js';

describe('wandb logger: parameter and gradient histograms', () => {
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

  test('histograms reach wandb-history.jsonl in wandb\'s format, in the row of their step with its scalars', async () => {
    const runDir = tempRunDir();
    const logger = makeLogger(runDir, { logEvery: 1 }, recordingLog().log);
    const hooks = createLifecycleHooks();
    await logger.apply(hooks);
    const gradient = { edges: [-1, -0.5, 0, 0.5, 1], counts: [1, 0, 3, 2] };
    const parameter = { edges: [0.25, 0.75, 1.25], counts: [4, 5] };
    await hooks.fitStart.promise({ startEpoch: 0, globalStep: 0, maxEpochs: 1, maxSteps: 3, resumed: false });
    await hooks.metrics.promise({ epoch: 0, step: 1, values: { 'train/loss': 0.5, 'grad_norm/total': 2.5 } });
    await hooks.histograms.promise({ epoch: 0, step: 1, values: { 'gradients/fc.weight': gradient, 'parameters/fc.weight': parameter } });
    await hooks.metrics.promise({ epoch: 0, step: 2, values: { 'train/loss': 0.25 } });
    await hooks.fitEnd.promise({ epoch: 1, globalStep: 2, status: 'completed', metrics: {} });
    await hooks.teardown.promise({ status: 'completed' });

    const sent = server.historyLines();
    const row = sent.find((r) => r._step === 1)!;
    expect(row['train/loss']).toBe(0.5);
    expect(row['grad_norm/total']).toBe(2.5);
    expect(row['gradients/fc.weight']).toEqual({ _type: 'histogram', bins: [-1, -0.5, 0, 0.5, 1], values: [1, 0, 3, 2] });
    expect(row['parameters/fc.weight']).toEqual(wandbHistogram(parameter));
    expect(sent.find((r) => r._step === 2)!['gradients/fc.weight']).toBeUndefined();
    // The offline journal keeps them too, for `bt-platform sync`.
    const journal = readJsonl(path.join(runDir, 'wandb', 'history.jsonl'));
    expect(journal.find((r) => r._step === 1)['gradients/fc.weight']._type).toBe('histogram');
  });
});
