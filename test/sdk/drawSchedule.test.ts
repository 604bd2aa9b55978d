import { createLifecycleHooks } from '@bt-platform/sdk';
import { DrawSchedule } from '@bt-platform/sdk/draw';

function schedule(everyNEpochs: number) {
  const hooks = createLifecycleHooks();
  const s = new DrawSchedule(everyNEpochs);
  s.apply(hooks, 'test');
  return { hooks, s, dueEpochs: (epochs: number) => Array.from({ length: epochs }, (_, e) => e).filter((e) => s.due(e)) };
}

describe('DrawSchedule', () => {
  it('draws every n-th epoch and the last one of the fit', async () => {
    const { hooks, dueEpochs } = schedule(2);
    await hooks.fitStart.promise({ startEpoch: 0, globalStep: 0, maxEpochs: 4, maxSteps: Infinity, resumed: false });
    expect(dueEpochs(4)).toEqual([0, 2, 3]);
  });

  it('draws the epoch that may reach maxSteps', async () => {
    const { hooks, dueEpochs } = schedule(5);
    await hooks.fitStart.promise({ startEpoch: 0, globalStep: 0, maxEpochs: 100, maxSteps: 10, resumed: false });
    for (const [epoch, globalStep] of [[0, 0], [1, 4], [2, 8]]) await hooks.trainEpochStart.promise({ epoch, globalStep, batches: 4 });
    expect(dueEpochs(10)).toEqual([0, 2, 5]);
  });

  it('outside a fit, draws every n-th epoch only', () => {
    expect(schedule(3).dueEpochs(7)).toEqual([0, 3, 6]);
  });
});
