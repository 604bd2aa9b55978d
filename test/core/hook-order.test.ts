import { runTinyFit } from '@bt-platform/sdk/testing';

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
