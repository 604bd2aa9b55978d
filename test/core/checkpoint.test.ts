import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run } from '@bt-platform/core';
import { readCheckpoint, writeCheckpoint, type BtError, type BtConfig, type PluginDefinition } from '@bt-platform/sdk';
import { toyPlugin } from '@bt-platform/sdk/testing';

const base = (runDir: string): BtConfig => ({
  seed: 3,
  backend: { use: 'cpu' },
  data: { use: 'toy', samples: 32, valSamples: 8, batchSize: 8 },
  task: { use: 'toy-regression' },
  optimizer: { use: 'adamw', lr: 0.02 },
  lrSchedule: { use: 'warmup-cosine', warmupSteps: 3 },
  callbacks: [{ use: 'checkpoint', monitor: 'val/loss', topK: 2 }],
  runDir,
});

function recordLosses(losses: number[], onStep?: (step: number) => void): PluginDefinition {
  return {
    name: 'record-losses',
    apply(hooks) {
      hooks.trainBatchEnd.tapPromise('record-losses', async (e) => {
        losses.push(e.loss);
        onStep?.(losses.length);
      });
    },
  };
}

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'bt-ckpt-'));

describe('checkpoints', () => {
  test('keeps the top-k by the monitored metric plus last, and names the best in the summary', async () => {
    const result = await run({ config: { ...base(tmp()), trainer: { maxEpochs: 4 } }, plugins: [toyPlugin], quiet: true });
    const files = readdirSync(path.join(result.runDir, 'checkpoints')).sort();
    expect(files).toHaveLength(3);
    expect(files).toContain('last.safetensors');
    expect(result.summary.checkpoint).toBe(result.summary.bestCheckpoint);
    const best = await readCheckpoint(result.summary.bestCheckpoint as string);
    expect(Object.keys(best.tensors)).toEqual(expect.arrayContaining(['model.fc1.weight', 'model.fc2.bias']));
    // nn.Linear layout: [out, in].
    expect(best.tensors['model.fc1.weight'].shape).toEqual([8, 4]);
  });

  test('resuming from an epoch checkpoint reproduces the uninterrupted loss curve', async () => {
    const straight: number[] = [];
    await run({ config: { ...base(tmp()), trainer: { maxEpochs: 4 } }, plugins: [toyPlugin, recordLosses(straight)], quiet: true });
    const first: number[] = [];
    const stopAfterTwo: PluginDefinition = {
      name: 'stop-after-two',
      apply: (hooks) => hooks.shouldStop.tap('stop-after-two', (e) => (e.epoch === 1 ? 'test stops here' : undefined)),
    };
    const half = await run({ config: { ...base(tmp()), trainer: { maxEpochs: 4 } }, plugins: [toyPlugin, recordLosses(first), stopAfterTwo], quiet: true });
    expect(half.status).toBe('stopped');
    const second: number[] = [];
    await run({
      config: { ...base(tmp()), trainer: { maxEpochs: 4 } },
      plugins: [toyPlugin, recordLosses(second)],
      resume: half.summary.lastCheckpoint as string,
      quiet: true,
    });
    expect(first.length + second.length).toBe(straight.length);
    expect(second).toEqual(straight.slice(first.length));
  });

  test('Ctrl-C stops after the current batch, writes last, and --resume continues mid-epoch identically', async () => {
    const straight: number[] = [];
    await run({ config: { ...base(tmp()), trainer: { maxEpochs: 3 } }, plugins: [toyPlugin, recordLosses(straight)], quiet: true });
    const before: number[] = [];
    const interrupted = await run({
      config: { ...base(tmp()), trainer: { maxEpochs: 3 } },
      plugins: [toyPlugin, recordLosses(before, (n) => n === 6 && process.emit('SIGINT', 'SIGINT'))],
      handleSignals: true,
      quiet: true,
    });
    expect(interrupted.status).toBe('interrupted');
    expect(before).toHaveLength(6);
    const last = await readCheckpoint(interrupted.summary.lastCheckpoint as string);
    expect(last.trainer).toMatchObject({ epoch: 1, batchInEpoch: 2, globalStep: 6 });
    const after: number[] = [];
    await run({
      config: { ...base(tmp()), trainer: { maxEpochs: 3 } },
      plugins: [toyPlugin, recordLosses(after)],
      resume: interrupted.summary.lastCheckpoint as string,
      quiet: true,
    });
    expect([...before, ...after]).toEqual(straight);
  });

  test('resuming into a model of another config names the differing key instead of suggesting `strict: false`', async () => {
    const toy = (hidden: number) => ({ use: 'toy-regression', hidden });
    const first = await run({ config: { ...base(tmp()), task: toy(8), trainer: { maxEpochs: 1 } }, plugins: [toyPlugin], quiet: true });
    const file = first.summary.lastCheckpoint as string;
    const resume = (from: string) =>
      run({ config: { ...base(tmp()), task: toy(6), trainer: { maxEpochs: 2 } }, plugins: [toyPlugin], resume: from, quiet: true }).then(
        () => undefined,
        (e: unknown) => e as BtError,
      );
    const error = await resume(file);
    expect(error?.code).toBe('CHECKPOINT_MISMATCH');
    expect(error?.message).toContain(file);
    expect(error?.message).toMatch(/fc1\.weight expected \[6,4\] got \[8,4\]/);
    expect(error?.hint).toContain(`task.hidden is 8 in ${path.join(first.runDir, 'config.yaml')} and 6 here`);
    expect(error?.hint).toContain('`weights:`');
    expect(error?.hint).not.toMatch(/strict/);
    // Away from its run directory the config that wrote it is unknown; the hint stays general.
    const moved = path.join(tmp(), 'moved.safetensors');
    copyFileSync(file, moved);
    const general = await resume(moved);
    expect(general?.code).toBe('CHECKPOINT_MISMATCH');
    expect(general?.hint).toMatch(/written for another model config/);
  });

  test('a checkpoint with a tampered trainer state is refused before training, naming the file and the field', async () => {
    const first = await run({ config: { ...base(tmp()), trainer: { maxEpochs: 1 } }, plugins: [toyPlugin], quiet: true });
    const state = await readCheckpoint(first.summary.lastCheckpoint as string);
    const tampered = path.join(tmp(), 'tampered.safetensors');
    await writeCheckpoint(tampered, { ...state, trainer: { ...state.trainer, epoch: -5 } });
    const losses: number[] = [];
    const resumed = run({ config: { ...base(tmp()), trainer: { maxEpochs: 2 } }, plugins: [toyPlugin, recordLosses(losses)], resume: tampered, quiet: true });
    await expect(resumed).rejects.toMatchObject({ code: 'CHECKPOINT_INVALID', message: expect.stringContaining(`Checkpoint ${tampered}: trainer.epoch is -5`) });
    expect(losses).toEqual([]);
  });

  test('a process killed while writing a checkpoint leaves the previous one loadable', async () => {
    const dir = tmp();
    const file = path.join(dir, 'last.safetensors');
    const script = path.resolve('test/core/fixtures/checkpoint-writer.ts');
    const child = spawn(process.execPath, ['--import', 'tsx', script, file], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] });
    let written = 0;
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        written += d.toString().trim().split('\n').length;
        // Kill mid-write: a few writes have completed and the next is under way.
        if (written >= 3) {
          setTimeout(() => child.kill('SIGKILL'), 15);
          resolve();
        }
      });
      child.on('close', () => resolve());
    });
    await new Promise((resolve) => child.on('close', resolve));
    const state = await readCheckpoint(file);
    const value = state.tensors['model.w'].data[0];
    expect(state.trainer.epoch).toBe(value);
    expect(state.tensors['model.w'].data.every((v) => v === value)).toBe(true);
    expect(existsSync(file)).toBe(true);
  });
});
