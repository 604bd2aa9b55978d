import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { HookName } from '@bt-platform/sdk';
import { runTinyFit, type HookRecorder } from '@bt-platform/sdk/testing';

test('a tiny fit fires the hooks in the documented order', async () => {
  const { recorder, status } = await runTinyFit({
    config: {
      data: { use: 'toy', samples: 16, valSamples: 8, batchSize: 8 },
      trainer: { maxEpochs: 2 },
      callbacks: [{ use: 'checkpoint' }],
    },
  });
  expect(status).toBe('completed');
  const batch = ['trainBatchStart', 'transformBatch', 'beforeBackward', 'afterBackward', 'beforeOptimizerStep', 'trainBatchEnd', 'metrics'];
  const epoch = [
    'trainEpochStart',
    ...batch,
    ...batch,
    'metrics', // epoch loss
    'trainEpochEnd',
    'validationStart',
    'validationBatchEnd',
    'metrics', // val metrics
    'validationEnd',
    'saveCheckpoint', // last, after validation
    'shouldStop',
  ];
  expect(recorder.names).toEqual(['setup', 'fitStart', ...epoch, ...epoch, 'fitEnd', 'teardown']);
});

test('hooks nobody taps are not called, and a skipped batch does no step', async () => {
  const skipped: number[] = [];
  const { recorder } = await runTinyFit({
    config: { data: { use: 'toy', samples: 24, valSamples: 8, batchSize: 8 }, trainer: { maxEpochs: 1 } },
    plugins: [
      {
        name: 'skipper',
        apply(hooks) {
          hooks.trainBatchStart.tap('skipper', (event) => {
            if (event.batchIdx === 1) {
              skipped.push(event.batchIdx);
              return true;
            }
            return undefined;
          });
        },
      },
    ],
  });
  expect(skipped).toEqual([1]);
  expect(recorder.names.filter((n) => n === 'beforeOptimizerStep')).toHaveLength(2);
  expect(recorder.names.filter((n) => n === 'trainBatchStart')).toHaveLength(3);
});

/** The `globalStep` (or `step`) each call of `hook` carried, in order. */
function steps(recorder: HookRecorder, hook: HookName): number[] {
  return recorder.calls.filter((c) => c.hook === hook).map((c) => {
    const event = c.event as { globalStep?: number; step?: number };
    return event.globalStep ?? event.step!;
  });
}

test('globalStep counts the optimizer steps taken when an event fires: 1 after the first step, as in metrics.jsonl', async () => {
  const { recorder, runDir } = await runTinyFit({
    config: { data: { use: 'toy', samples: 16, valSamples: 8, batchSize: 8 }, trainer: { maxEpochs: 2 } },
  });
  // Before the step: the count so far.
  for (const hook of ['trainBatchStart', 'beforeBackward', 'afterBackward', 'beforeOptimizerStep'] as const) expect([hook, steps(recorder, hook)]).toEqual([hook, [0, 1, 2, 3]]);
  // After it: the count including it.
  expect(steps(recorder, 'trainBatchEnd')).toEqual([1, 2, 3, 4]);
  expect(steps(recorder, 'trainEpochEnd')).toEqual([2, 4]);
  expect(steps(recorder, 'validationEnd')).toEqual([2, 4]);
  const logged = readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { step: number; values: Record<string, number> });
  expect(logged.filter((m) => 'train/loss' in m.values).map((m) => m.step)).toEqual(steps(recorder, 'trainBatchEnd'));
});

test('with gradient accumulation, a batch that takes no optimizer step ends with the count unchanged', async () => {
  const { recorder } = await runTinyFit({
    config: { data: { use: 'toy', samples: 32, valSamples: 8, batchSize: 8 }, trainer: { maxEpochs: 1, accumulateGradBatches: 2 } },
  });
  expect(steps(recorder, 'trainBatchStart')).toEqual([0, 0, 1, 1]);
  expect(steps(recorder, 'beforeOptimizerStep')).toEqual([0, 1]);
  expect(steps(recorder, 'trainBatchEnd')).toEqual([0, 1, 1, 2]);
});
