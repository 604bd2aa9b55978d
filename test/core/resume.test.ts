import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run } from '@bt-platform/core';
import type { BtConfig, PluginDefinition } from '@bt-platform/sdk';
import { toyPlugin } from '@bt-platform/sdk/testing';

/** 4 batches an epoch, validation every epoch; the interrupted run and the straight one share everything but the interrupt. */
const config = (): BtConfig => ({
  seed: 5,
  backend: { use: 'cpu' },
  data: { use: 'toy', samples: 32, valSamples: 8, batchSize: 8 },
  task: { use: 'toy-regression' },
  optimizer: { use: 'adamw', lr: 0.02 },
  lrSchedule: { use: 'warmup-cosine', warmupSteps: 3 },
  trainer: { maxEpochs: 3 },
  callbacks: [{ use: 'checkpoint', monitor: 'val/loss' }],
  runDir: mkdtempSync(path.join(os.tmpdir(), 'bt-resume-')),
});

/** Ctrl-C during the given training batch (counted from 1 over the run). */
function interruptAt(batch: number): PluginDefinition {
  let seen = 0;
  return {
    name: 'interrupt-at',
    apply(hooks) {
      hooks.trainBatchEnd.tapPromise('interrupt-at', async () => {
        if (++seen === batch) process.emit('SIGINT', 'SIGINT');
      });
    },
  };
}

interface Logged {
  epoch: number;
  key: string;
  value: number;
}

/** The epoch-level values of a run's metrics.jsonl, in the order they were logged. */
function epochValues(runDir: string): Logged[] {
  const lines = readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n');
  return lines.flatMap((line) => {
    const { epoch, values } = JSON.parse(line) as { epoch: number; values: Record<string, number> };
    return Object.entries(values)
      .filter(([key]) => key === 'train/loss_epoch' || key.startsWith('val/'))
      .map(([key, value]) => ({ epoch, key, value }));
  });
}

function expectSameValues(actual: Logged[], expected: Logged[]): void {
  expect(actual.map(({ epoch, key }) => `${epoch} ${key}`)).toEqual(expected.map(({ epoch, key }) => `${epoch} ${key}`));
  actual.forEach((a, i) => expect(Math.abs(a.value - expected[i].value)).toBeLessThan(1e-6));
}

describe('Ctrl-C and --resume give the metrics of an uninterrupted run', () => {
  let straight: Awaited<ReturnType<typeof run>>;
  beforeAll(async () => {
    straight = await run({ config: config(), plugins: [toyPlugin], quiet: true });
  });

  test.each([
    ['in the middle of an epoch', 6],
    ['in the last batch of an epoch, before its validation', 8],
    ['in the last batch of the last epoch', 12],
  ])('interrupted %s', async (_, batch) => {
    const interrupted = await run({ config: config(), plugins: [toyPlugin, interruptAt(batch)], handleSignals: true, quiet: true });
    expect(interrupted.status).toBe('interrupted');
    const resumed = await run({ config: config(), plugins: [toyPlugin], resume: interrupted.summary.lastCheckpoint as string, quiet: true });
    expect(resumed.status).toBe('completed');
    expectSameValues([...epochValues(interrupted.runDir), ...epochValues(resumed.runDir)], epochValues(straight.runDir));
    for (const key of ['val/loss', 'val/mae']) expect(Math.abs(resumed.metrics[key] - straight.metrics[key])).toBeLessThan(1e-6);
    expect(resumed.summary.steps).toBe(straight.summary.steps);
  });
});

test('a Ctrl-C while the run is being set up is kept: the run ends interrupted before its first step', async () => {
  const early: PluginDefinition = { name: 'early-interrupt', apply: () => void process.emit('SIGINT', 'SIGINT') };
  const result = await run({ config: config(), plugins: [toyPlugin, early], handleSignals: true, quiet: true });
  expect(result.status).toBe('interrupted');
  expect(result.summary.steps).toBe(0);
});
