import { jest } from '@jest/globals';
import progress from '@bt-platform/plugin-progress';
import type { RunContext } from '@bt-platform/sdk';
import { FakeRun } from '../predictions/FakeRun.js';

/** A FakeRun that keeps what the callback logs. */
class LoggedRun extends FakeRun {
  readonly lines: string[] = [];

  override context(): RunContext {
    const keep = (level: string) => (message: string) => void this.lines.push(`${level}: ${message}`);
    return { ...super.context(), log: { debug: keep('debug'), info: keep('info'), warn: keep('warn'), error: keep('error') } };
  }
}

async function epochLine(metrics: Record<string, number>, options: Record<string, unknown> = {}) {
  const run = new LoggedRun();
  await run.callback(progress, 'progress', { style: 'lines', ...options });
  await run.hooks.fitStart.promise({ startEpoch: 0, globalStep: 0, maxEpochs: 2, maxSteps: Infinity, resumed: false });
  run.hooks.shouldStop.call({ epoch: 0, globalStep: 4, metrics });
  await run.hooks.fitEnd.promise({ epoch: 1, globalStep: 4, status: 'completed', metrics });
  return run.lines;
}

const logged = { 'train/loss_epoch': 0.5, 'val/loss': 0.25, 'val/mIoU': 0.125, 'val/IoU/cat': 0.75, 'val/IoU/dog': 0.0625 };

describe('progress', () => {
  test('metrics: train/loss shows the epoch mean the trainer logs as train/loss_epoch', async () => {
    const [line] = await epochLine(logged, { metrics: ['train/loss', 'val/loss'] });
    expect(line).toMatch(/^info: epoch 1\/2 .* \| train\/loss=0\.5000 val\/loss=0\.2500 \| ETA/);
  });

  test('per-class metrics stay out of the epoch line unless asked for, by name or with *', async () => {
    const [plain] = await epochLine(logged);
    expect(plain).toContain('train/loss_epoch=0.5000 val/loss=0.2500 val/mIoU=0.1250 |');
    expect(plain).not.toContain('IoU/');
    const [asked] = await epochLine(logged, { metrics: ['val/mIoU', 'val/IoU/*'] });
    expect(asked).toContain('| val/mIoU=0.1250 val/IoU/cat=0.7500 val/IoU/dog=0.0625 |');
  });

  test('a requested metric that is never logged is reported once, with the keys that are', async () => {
    const lines = await epochLine(logged, { metrics: ['val/miou', 'val/loss'] });
    expect(lines.filter((l) => l.startsWith('warn:'))).toEqual([
      'warn: progress: metrics val/miou were never logged at an epoch\'s end; logged: train/loss_epoch, val/IoU/cat, val/IoU/dog, val/loss, val/mIoU.',
    ]);
  });

  test('style bar draws a validation bar, batch by batch', async () => {
    const written: string[] = [];
    const write = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    try {
      const run = new LoggedRun();
      await run.callback(progress, 'progress', { style: 'bar' });
      await run.hooks.validationStart.promise({ stage: 'val', epoch: 0, globalStep: 4, batches: 3 });
      for (let batchIdx = 0; batchIdx < 3; batchIdx++) {
        await run.hooks.validationBatchEnd.promise({ stage: 'val', epoch: 0, batchIdx, globalStep: 4, loss: 0.5, logs: {}, batch: {}, outputs: {} });
      }
      await run.hooks.validationEnd.promise({ stage: 'val', epoch: 0, globalStep: 4, metrics: {} });
    } finally {
      write.mockRestore();
    }
    const text = written.join('');
    expect(text).toMatch(/validate .* 0\/3/);
    expect(text).toMatch(/validate .* 3\/3 \| loss 0\.5000/);
  });
});
