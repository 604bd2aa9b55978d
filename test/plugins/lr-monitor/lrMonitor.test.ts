import lrMonitor from '@bt-platform/plugin-lr-monitor';
import { FakeRun } from '../predictions/FakeRun.js';

const step = (run: FakeRun, lr: number, batchIdx: number, extra: Record<string, unknown> = {}) => {
  run.trainer.globalStep++;
  run.hooks.beforeOptimizerStep.call({ epoch: 0, batchIdx, globalStep: run.trainer.globalStep, grads: {}, lr, ...extra });
  return run.hooks.trainBatchEnd.promise({ epoch: 0, batchIdx, globalStep: run.trainer.globalStep, loss: 0, logs: {}, batch: {}, outputs: {} });
};

describe('lr-monitor', () => {
  it('logs the rate of each optimizer step at that step', async () => {
    const run = new FakeRun();
    await run.callback(lrMonitor, 'lr-monitor');
    const rates = [0.1, 0.05, 0.025];
    for (const [i, lr] of rates.entries()) await step(run, lr, i);
    expect(run.metrics).toEqual(rates.map((lr, i) => ({ step: i + 1, values: { lr } })));
  });

  it('logs nothing for batches without an optimizer step (gradient accumulation)', async () => {
    const run = new FakeRun();
    await run.callback(lrMonitor, 'lr-monitor');
    await step(run, 0.1, 0);
    await run.hooks.trainBatchEnd.promise({ epoch: 0, batchIdx: 1, globalStep: 1, loss: 0, logs: {}, batch: {}, outputs: {} });
    expect(run.metrics).toHaveLength(1);
  });

  it('logs every N-th step and each parameter group', async () => {
    const run = new FakeRun();
    await run.callback(lrMonitor, 'lr-monitor', { logEveryNSteps: 2 });
    for (let i = 0; i < 4; i++) await step(run, 0.1 * (i + 1), i, { lrs: { backbone: 0.01 * (i + 1), head: 0.1 * (i + 1) } });
    expect(run.metrics.map((m) => m.step)).toEqual([1, 3]);
    expect(run.metrics[1].values).toEqual({ lr: 0.1 * 3, 'lr/backbone': 0.01 * 3, 'lr/head': 0.1 * 3 });
  });

  it('derives each configured parameter group\'s rate from its lrScale', async () => {
    const run = new FakeRun({ optimizer: { use: 'adamw', groups: [{ params: ['backbone.*'], lrScale: 0.1 }, { params: ['head.*'], lrScale: 1 }] } });
    await run.callback(lrMonitor, 'lr-monitor');
    await step(run, 0.5, 0);
    expect(run.metrics[0].values).toEqual({ lr: 0.5, 'lr/backbone.*': 0.05, 'lr/head.*': 0.5 });
  });

  it('with the epoch interval, logs the rate of each epoch\'s first step once', async () => {
    const run = new FakeRun();
    await run.callback(lrMonitor, 'lr-monitor', { loggingInterval: 'epoch' });
    for (const epoch of [0, 1]) {
      await run.hooks.trainEpochStart.promise({ epoch, globalStep: run.trainer.globalStep, batches: 2 });
      await step(run, 1 / (epoch + 1), 0);
      await step(run, 0.9 / (epoch + 1), 1);
      await run.hooks.trainEpochEnd.promise({ epoch, globalStep: run.trainer.globalStep, metrics: {} });
    }
    expect(run.metrics.map((m) => m.values)).toEqual([{ lr: 1 }, { lr: 0.5 }]);
  });

  it('rejects an unknown interval', async () => {
    await expect(new FakeRun().callback(lrMonitor, 'lr-monitor', { loggingInterval: 'batch' })).rejects.toThrow(/loggingInterval/);
  });
});
