import { readFileSync } from 'node:fs';
import path from 'node:path';
import { runTinyFit } from '@bt-platform/sdk/testing';

// Built-in plugins (every folder in plugins/) are loaded by the core itself.
describe('lr-monitor in a run', () => {
  it('logs the rate of every optimizer step into the run\'s metrics', async () => {
    const result = await runTinyFit({
      config: { trainer: { maxEpochs: 2 }, optimizer: { use: 'sgd', lr: 0.05 }, callbacks: [{ use: 'lr-monitor' }] },
    });
    expect(result.status).toBe('completed');
    const steps = result.recorder.names.filter((n) => n === 'beforeOptimizerStep').length;
    const lines = readFileSync(path.join(result.runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const rates = lines.filter((l) => 'lr' in (l.values ?? l)).map((l) => (l.values ?? l).lr);
    expect(steps).toBeGreaterThan(0);
    expect(rates).toEqual(new Array(steps).fill(0.05));
  });
});
