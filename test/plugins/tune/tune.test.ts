import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { loadRunConfig, openSession } from '@bt-platform/core';
import { definePlugin, Slots, type Batch, type CommandContext, type Log, type PluginDefinition, type Task } from '@bt-platform/sdk';
import { ToyTask } from '@bt-platform/sdk/testing';
import { BatchSource, formatBytes, gradient, parseBytes, suggestLr, TrainingStep, tuneBatchSize, tuneLr } from '../../../plugins/tune/src/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const config = path.join(here, 'toy.yaml');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'bt-tune-'));
const set = [`runDir=${tmp}`];

function context(plugins: PluginDefinition[] = []): CommandContext {
  const log: Log = { debug() {}, info() {}, warn() {}, error() {} };
  return { cwd: here, log, openSession: (o) => openSession({ ...o, plugins, quiet: true }) };
}

/** Mean training loss of the last batches of `steps` SGD steps at `lr`, from a fresh toy model. */
async function trainToy(lr: number, steps: number): Promise<{ first: number; last: number }> {
  const session = await openSession({ configFile: config, overrides: set, quiet: true, name: 'check' });
  try {
    const step = new TrainingStep(await session.get(Slots.task), await session.get(Slots.optimizer));
    const source = new BatchSource(await session.get(Slots.datamodule));
    const losses: number[] = [];
    for (let i = 0; i < steps; i++) {
      const batch = await source.nextBatch();
      losses.push(step.run(batch, lr));
      tf.dispose(Object.values(batch));
    }
    await source.dispose();
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    return { first: mean(losses.slice(0, 8)), last: mean(losses.slice(-8)) };
  } finally {
    await session.close();
  }
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('suggestLr', () => {
  test('gradient is numpy.gradient for evenly spaced points', () => {
    expect(gradient([1, 4, 9, 16])).toEqual([3, 4, 6, 7]);
  });

  test('picks the steepest descent after skipping the first and last points', () => {
    const lrs = [1, 2, 3, 4, 5, 6, 7, 8];
    const loss = [0, 9, 9, 8.5, 6, 5.5, 5.4, 100];
    expect(suggestLr(lrs, loss, 2, 1)).toEqual({ lr: 4, index: 3 });
    expect(suggestLr(lrs, loss, 6, 1)).toBeUndefined();
  });
});

describe('parseBytes', () => {
  test('reads memory sizes in powers of 1024 and rejects the rest', () => {
    expect(parseBytes('2GB')).toBe(2 * 1024 ** 3);
    expect(parseBytes('512MB')).toBe(512 * 1024 ** 2);
    expect(parseBytes('1.5 kb')).toBe(1536);
    expect(parseBytes('4096')).toBe(4096);
    expect(() => parseBytes('lots')).toThrow(/--max-memory: cannot read "lots"/);
    expect(formatBytes(1536)).toBe('1.5KB');
  });
});

describe('TrainingStep', () => {
  test('leaves the number of tensors unchanged once the optimizer state exists', async () => {
    const session = await openSession({ configFile: config, overrides: [...set, 'optimizer={use: adamw, lr: 0.01}'], quiet: true, name: 'leak' });
    try {
      const step = new TrainingStep(await session.get(Slots.task), await session.get(Slots.optimizer));
      const source = new BatchSource(await session.get(Slots.datamodule));
      const run = async () => {
        const batch = await source.next(32);
        step.run(batch, 0.01);
        tf.dispose(Object.values(batch));
      };
      await run();
      const before = tf.memory().numTensors;
      for (let i = 0; i < 12; i++) await run();
      expect(tf.memory().numTensors).toBe(before);
      await source.dispose();
    } finally {
      await session.close();
    }
  });
});

describe('tune lr', () => {
  // Found by sweeping fixed learning rates (60 SGD steps, batch 32, seeds 1–3): from 0.025 to 0.16 the
  // loss falls below a tenth of its start; 0.25 is unstable and from 0.4 on it diverges.
  const GOOD_RANGE = [0.02, 0.2];

  test('suggests a learning rate in the known good range for the toy regression, with a plot and an override', async () => {
    const lines: string[] = [];
    const result = await tuneLr({ config, set, minLr: '1e-4', maxLr: '10', steps: '100' }, context(), (l) => lines.push(l));
    expect(result.stopped).toMatch(/diverged/);
    expect(result.lrs.length).toBeLessThan(100);
    const lr = result.suggestion!.lr;
    expect(lr).toBeGreaterThanOrEqual(GOOD_RANGE[0]);
    expect(lr).toBeLessThanOrEqual(GOOD_RANGE[1]);
    expect(lines).toContain(`suggested lr: ${Number(lr.toPrecision(3))}`);

    // The suggestion trains: 60 steps at it bring the loss below a tenth of where it started.
    const trained = await trainToy(lr, 60);
    expect(trained.last).toBeLessThan(trained.first / 10);

    const png = await sharp(path.join(result.runDir, 'lr-finder.png')).metadata();
    expect([png.format, png.width, png.height]).toEqual(['png', 720, 450]);
    const record = JSON.parse(readFileSync(path.join(result.runDir, 'lr-finder.json'), 'utf8'));
    expect(record.smoothed).toHaveLength(result.lrs.length);
    // Bias-corrected EMA: the first smoothed value is the first loss.
    expect(record.smoothed[0]).toBeCloseTo(record.losses[0], 10);

    // The override works in `extends`, after the config it tunes.
    const tuned = path.join(here, `tuned-${process.pid}.yaml`);
    writeFileSync(tuned, `extends: [toy.yaml, ${JSON.stringify(result.overrideFile)}]\n`);
    try {
      const { stages } = await loadRunConfig({ configFile: tuned, cwd: here });
      expect(stages[0].raw.optimizer).toEqual({ use: 'sgd', lr: Number(lr.toPrecision(3)) });
    } finally {
      rmSync(tuned);
    }
  });

  test('bad bounds are a clear error', async () => {
    await expect(tuneLr({ config, set, minLr: '1', maxLr: '0.1' }, context())).rejects.toThrow(/--min-lr \(1\) must be below --max-lr \(0.1\)/);
  });
});

describe('tune batch-size', () => {
  test('doubles the batch size and stops at the first one over the memory budget', async () => {
    const open = await tuneBatchSize({ config, set, start: '4', maxSize: '256', steps: '1' }, context(), () => {});
    expect(open.trials.map((t) => t.batchSize)).toEqual([4, 8, 16, 32, 64, 128, 256]);
    expect(open.best).toBe(256);
    const peaks = open.trials.map((t) => t.peakBytes);
    for (let i = 1; i < peaks.length; i++) expect(peaks[i]).toBeGreaterThan(peaks[i - 1]);
    for (const t of open.trials) expect(t.imagesPerSecond).toBeGreaterThan(0);

    // A budget between the peaks of 32 and 64: 32 is kept, 64 is the last one tried.
    const budget = Math.round((peaks[3] + peaks[4]) / 2);
    const lines: string[] = [];
    const bounded = await tuneBatchSize({ config, set, start: '4', maxSize: '256', steps: '1', maxMemory: String(budget) }, context(), (l) => lines.push(l));
    expect(bounded.trials.map((t) => [t.batchSize, t.status])).toEqual([[4, 'fits'], [8, 'fits'], [16, 'fits'], [32, 'fits'], [64, 'over budget']]);
    expect(bounded.best).toBe(32);
    expect(readFileSync(bounded.overrideFile!, 'utf8')).toMatch(/^data:\n {2}batchSize: 32\n$/m);
    expect(lines.at(-2)).toBe('largest batch size that fits: 32 (batch size 64 exceeds the memory budget)');
  });

  test('stops at the first step that runs out of memory; other errors are not swallowed', async () => {
    // A toy task whose steps fail like an allocator that has run out above 16 samples.
    const hungry = (message: string): PluginDefinition =>
      definePlugin({
        name: 'hungry-toy',
        register(registrar) {
          registrar.component(Slots.task, {
            name: 'hungry-toy',
            create: (_o, ctx): Task => {
              const task = new ToyTask({ hidden: 8, features: 4 }, ctx.rng.tfSeed());
              const trainingStep = task.trainingStep.bind(task);
              task.trainingStep = (batch: Batch) => {
                if (batch.x.shape[0] > 16) throw new Error(message);
                return trainingStep(batch);
              };
              return task;
            },
          });
        },
      });
    const options = { config, set: [...set, 'task={use: hungry-toy}'], start: '2', steps: '1' };
    const result = await tuneBatchSize(options, context([hungry('OOM when allocating tensor with shape[32,8]')]), () => {});
    expect(result.trials.map((t) => t.batchSize)).toEqual([2, 4, 8, 16, 32]);
    expect(result.trials.at(-1)!.status).toMatch(/^failed: OOM when allocating/);
    expect(result.best).toBe(16);
    await expect(tuneBatchSize(options, context([hungry('shapes do not match')]), () => {})).rejects.toThrow('shapes do not match');
  });

  test('on the wasm heap: stops cleanly at the first size that does not fit, with the heap’s own numbers', async () => {
    // A toy task whose step also makes a batch³ tensor: 537 MB at 512, 4.3 GB (over the 4 GB heap) at 1024.
    const cubic = definePlugin({
      name: 'cubic-toy',
      register(registrar) {
        registrar.component(Slots.task, {
          name: 'cubic-toy',
          create: (_o, ctx): Task => {
            const task = new ToyTask({ hidden: 8, features: 4 }, ctx.rng.tfSeed());
            const trainingStep = task.trainingStep.bind(task);
            task.trainingStep = (batch: Batch) => {
              const out = trainingStep(batch);
              const b = batch.x.shape[0];
              return { ...out, loss: tf.add(out.loss, tf.mul(tf.sum(tf.fill([b, b, b], 1e-9)), 0)) as tf.Scalar };
            };
            return task;
          },
        });
      },
    });
    const lines: string[] = [];
    const options = { config, set: [...set, 'backend={use: wasm}', 'task={use: cubic-toy}', 'data.samples=1100'], start: '256', steps: '1' };
    const result = await tuneBatchSize(options, context([cubic]), (line) => lines.push(line));
    expect(result.trials.map((t) => [t.batchSize, t.status.replace(/:.*/, '')])).toEqual([[256, 'fits'], [512, 'fits'], [1024, 'failed']]);
    expect(result.trials[2].status).toMatch(/^failed: .*a tensor of 4\.00 GB does not fit .*limit 4\.00 GB/);
    // The peak is the heap's count of tensor bytes: the 537 MB cube and the step's small tensors.
    expect(result.trials[1].peakBytes).toBeGreaterThan(512 ** 3 * 4);
    expect(result.trials[1].peakBytes).toBeLessThan(512 ** 3 * 4 * 1.1);
    expect(result.best).toBe(512);
    expect(lines.at(-2)).toBe('largest batch size that fits: 512 (batch size 1024 ran out of memory)');
  });

  test('on a capped heap the optimizer keeps its state on the host, as a run does, on no other backend', async () => {
    const asked: string[] = [];
    const recording = definePlugin({
      name: 'recording-optimizer',
      register(registrar) {
        registrar.component(Slots.optimizer, {
          name: 'recording-sgd',
          create: () => ({ lr: 0.01, step() {}, state: () => ({ tensors: {}, json: {} }), loadState() {}, keepStateOnHost: () => void asked.push(tf.getBackend()) }),
        });
      },
    });
    for (const backend of ['wasm', 'cpu']) {
      const options = { config, set: [...set, `backend={use: ${backend}}`, 'optimizer={use: recording-sgd}'], start: '8', maxSize: '8', steps: '1' };
      await tuneBatchSize(options, context([recording]), () => {});
    }
    expect(asked).toEqual(['wasm']);
  });

  test('from the command line: a budget not even the first size fits is an error after the table', () => {
    const bin = path.resolve(here, '../../../core/bin/bt-platform.js');
    const args = ['tune', 'batch-size', '-c', config, '--set', `runDir=${tmp}`, '--start', '8', '--steps', '1', '--max-memory', '1KB'];
    const child = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
    expect(child.stdout).toMatch(/batch size +peak tensors +rss +images\/s +status\n +8 .* over budget\n/);
    expect(child.stderr).toMatch(/error\[RUNTIME\]: tune batch-size: even batch size 8 does not fit \(batch size 8 exceeds the memory budget\)/);
    // What the model alone takes, since that is what no batch size can lower.
    expect(child.stderr).toMatch(/hint: The model alone is [\d.,]+( M)? parameters \(\d+(\.\d+)? ?[KMG]?B\); a training step also holds their gradients and the optimizer's state/);
    expect(child.status).toBe(1);
  });
});
