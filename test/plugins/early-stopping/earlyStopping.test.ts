import earlyStopping from '@bt-platform/plugin-early-stopping';
import type { CheckpointState } from '@bt-platform/sdk';
import { FakeRun } from '../predictions/FakeRun.js';

async function validate(run: FakeRun, epoch: number, metrics: Record<string, number>): Promise<string | void> {
  await run.hooks.validationEnd.promise({ stage: 'val', epoch, globalStep: epoch, metrics });
  return run.hooks.shouldStop.call({ epoch, globalStep: epoch, metrics });
}

describe('early-stopping', () => {
  it('stops after `patience` validations without improvement (max mode, min delta)', async () => {
    const run = new FakeRun();
    await run.callback(earlyStopping, 'early-stopping', { monitor: 'val/mIoU', mode: 'max', patience: 2, minDelta: 0.01 });
    const series = [0.1, 0.2, 0.205, 0.21, 0.3, 0.3, 0.29];
    const decisions: Array<string | void> = [];
    for (const [epoch, mIoU] of series.entries()) decisions.push(await validate(run, epoch, { 'val/mIoU': mIoU }));
    // 0.205 and 0.21 are within minDelta of 0.2: the second of them exhausts the patience.
    expect(decisions.map((d) => d !== undefined)).toEqual([false, false, false, true, false, false, true]);
    expect(decisions[3]).toMatch(/val\/mIoU did not improve by more than 0.01 for 2 checks/);
  });

  it('reads keys given without the stage prefix, in min mode', async () => {
    const run = new FakeRun();
    await run.callback(earlyStopping, 'early-stopping', { monitor: 'val/loss', patience: 1 });
    expect(await validate(run, 0, { loss: 1 })).toBeUndefined();
    expect(await validate(run, 1, { loss: 0.5 })).toBeUndefined();
    expect(await validate(run, 2, { loss: 0.7 })).toMatch(/val\/loss/);
  });

  it('names the missing key and the keys available', async () => {
    const run = new FakeRun();
    await run.callback(earlyStopping, 'early-stopping', { monitor: 'val/miou' });
    await expect(validate(run, 0, { 'val/mIoU': 0.3, 'val/loss': 1 })).rejects.toThrow(/"val\/miou".*Available: val\/mIoU, val\/loss/);
  });

  it('stops on a non-finite value and on thresholds', async () => {
    const nan = new FakeRun();
    await nan.callback(earlyStopping, 'early-stopping', { monitor: 'val/loss' });
    expect(await validate(nan, 0, { 'val/loss': NaN })).toMatch(/not finite/);
    const good = new FakeRun();
    await good.callback(earlyStopping, 'early-stopping', { monitor: 'val/loss', stoppingThreshold: 0.1 });
    expect(await validate(good, 0, { 'val/loss': 0.5 })).toBeUndefined();
    expect(await validate(good, 1, { 'val/loss': 0.05 })).toMatch(/stopping threshold/);
  });

  it('keeps its counters across a checkpoint', async () => {
    const run = new FakeRun();
    await run.callback(earlyStopping, 'early-stopping', { monitor: 'val/loss', patience: 2 });
    await validate(run, 0, { 'val/loss': 1 });
    await validate(run, 1, { 'val/loss': 2 });
    const empty = { format: 'bt-platform/1', trainer: {}, tensors: {}, plugins: {}, metrics: {} } as unknown as CheckpointState;
    const saved = await run.hooks.saveCheckpoint.promise(empty);
    expect(saved.plugins['early-stopping']).toEqual({ best: 1, wait: 1 });
    const resumed = new FakeRun();
    await resumed.callback(earlyStopping, 'early-stopping', { monitor: 'val/loss', patience: 2 });
    await resumed.hooks.loadCheckpoint.promise(saved);
    expect(await validate(resumed, 2, { 'val/loss': 3 })).toMatch(/for 2 checks/);
  });
});
