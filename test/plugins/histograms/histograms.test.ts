import { readFileSync } from 'node:fs';
import { jest } from '@jest/globals';
import * as tf from '@tensorflow/tfjs';
import { createLifecycleHooks, definePlugin, Stage, type GradientsEvent, type Histogram, type RunContext, type Task } from '@bt-platform/sdk';
import { runTinyFit, ToyTask } from '@bt-platform/sdk/testing';
import { HistogramsCallback, summarise, type HistogramsOptions } from '../../../plugins/histograms/src/index.js';

interface Fixture {
  values: number[];
  bins: number;
  counts: number[];
  edges: number[];
  norm: number;
}

const fixtures = JSON.parse(readFileSync(new URL('../../fixtures/histograms/numpy-histograms.json', import.meta.url), 'utf8')) as Record<string, Fixture>;

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** A callback wired to fresh hooks and a context that records what it logs. */
function harness(options: Partial<HistogramsOptions>, task: Task = new ToyTask({ hidden: 8, features: 4 }, 3)) {
  const logged: { metrics: Array<Record<string, number>>; histograms: Array<Record<string, Histogram>> } = { metrics: [], histograms: [] };
  const ctx = {
    get: async () => task,
    logMetrics: async (values: Record<string, number>) => void logged.metrics.push(values),
    logHistograms: async (values: Record<string, Histogram>) => void logged.histograms.push(values),
  } as unknown as RunContext;
  const hooks = createLifecycleHooks();
  const callback = new HistogramsCallback({ everyNSteps: 50, bins: 64, which: 'both', ...options }, ctx);
  return { hooks, callback, logged, task };
}

const batchEnd = { epoch: 0, batchIdx: 0, globalStep: 0, loss: 0, logs: {}, batch: {}, outputs: {} };

describe('summarise', () => {
  test.each(Object.keys(fixtures))('matches numpy.histogram: %s', (key) => {
    const f = fixtures[key];
    const s = summarise(Float32Array.from(f.values), f.bins);
    expect(s.histogram.counts).toEqual(f.counts);
    expect(s.histogram.edges).toHaveLength(f.bins + 1);
    s.histogram.edges.forEach((edge, i) => expect(edge).toBeCloseTo(f.edges[i], 12));
    expect(s.norm).toBeCloseTo(f.norm, 4);
    expect(s.histogram.counts.reduce((a, b) => a + b, 0)).toBe(f.values.length);
  });

  test('leaves non-finite values out of the bins and makes the norm NaN', () => {
    const s = summarise([1, NaN, 2, Infinity, 3], 2);
    expect(s.nonFinite).toBe(2);
    expect(s.histogram.counts).toEqual([1, 2]);
    expect(s.norm).toBeNaN();
  });
});

describe('histograms callback', () => {
  test('bins gradients and parameters of the step, logs grad norms, and leaks no tensor', async () => {
    const { hooks, callback, logged, task } = harness({ everyNSteps: 5, bins: 8 });
    await callback.apply(hooks);
    const grads = { 'fc1.weight': tf.tensor2d([[1, -2], [3, 0.5]]), 'fc2.bias': tf.tensor1d([4]) };
    const before = tf.memory().numTensors;
    hooks.afterBackward.call({ epoch: 0, batchIdx: 0, globalStep: 10, grads });
    expect(tf.memory().numTensors).toBe(before);
    await hooks.trainBatchEnd.promise(batchEnd);
    tf.dispose(Object.values(grads));

    expect(logged.metrics).toHaveLength(1);
    const metrics = logged.metrics[0];
    expect(metrics['grad_norm/fc1.weight']).toBeCloseTo(Math.sqrt(1 + 4 + 9 + 0.25), 6);
    expect(metrics['grad_norm/fc2.bias']).toBeCloseTo(4, 6);
    expect(metrics['grad_norm/total']).toBeCloseTo(Math.sqrt(14.25 + 16), 6);
    const histograms = logged.histograms[0];
    expect(histograms['gradients/fc1.weight']).toEqual(summarise([1, -2, 3, 0.5], 8).histogram);
    for (const [name, variable] of task.model.namedParameters()) {
      const values = Array.from(variable.dataSync());
      expect(histograms[`parameters/${name}`]).toEqual(summarise(values, 8).histogram);
      expect(metrics[`param_norm/${name}`]).toBeCloseTo(Math.hypot(...values), 5);
    }
    // Logged once: the next batch end has nothing pending.
    await hooks.trainBatchEnd.promise(batchEnd);
    expect(logged.metrics).toHaveLength(1);
  });

  test('does nothing between the steps it logs: no read-back, no parameter walk', async () => {
    const task = new ToyTask({ hidden: 8, features: 4 }, 3);
    const walk = jest.spyOn(task.model, 'namedParameters');
    const { hooks, callback, logged } = harness({ everyNSteps: 4 }, task);
    await callback.apply(hooks);
    const untouchable = { dataSync: () => { throw new Error('read back on a step that is not logged'); } } as unknown as tf.Tensor;
    for (const globalStep of [1, 2, 3, 5, 7]) {
      hooks.afterBackward.call({ epoch: 0, batchIdx: globalStep, globalStep, grads: { w: untouchable } } as GradientsEvent);
      await hooks.trainBatchEnd.promise(batchEnd);
    }
    expect(walk).not.toHaveBeenCalled();
    expect(logged.metrics).toEqual([]);
    expect(logged.histograms).toEqual([]);
  });

  test('which: gradients skips parameter values; which: parameters skips gradients', async () => {
    const grads = { 'fc2.bias': tf.tensor1d([0.5]) };
    for (const which of ['gradients', 'parameters'] as const) {
      const { hooks, callback, logged } = harness({ everyNSteps: 1, which });
      await callback.apply(hooks);
      hooks.afterBackward.call({ epoch: 0, batchIdx: 0, globalStep: 0, grads });
      await hooks.trainBatchEnd.promise(batchEnd);
      const keys = Object.keys(logged.histograms[0]);
      expect(keys.every((k) => k.startsWith(which === 'gradients' ? 'gradients/' : 'parameters/'))).toBe(true);
      expect('grad_norm/total' in logged.metrics[0]).toBe(which === 'gradients');
    }
    tf.dispose(Object.values(grads));
  });

  test('in a run: the logged gradient histograms are those of the step, every N steps, in histograms.jsonl', async () => {
    // A probe that reads the same gradients directly, just before the callback.
    const direct = new Map<number, Record<string, number[]>>();
    const probe = definePlugin({
      name: 'gradient-probe',
      apply(hooks) {
        hooks.afterBackward.tap({ name: 'gradient-probe', stage: Stage.runtime }, (event) => {
          direct.set(event.globalStep, Object.fromEntries(Object.entries(event.grads).map(([k, g]) => [k, Array.from(g.dataSync())])));
        });
      },
    });
    const result = await runTinyFit({
      plugins: [probe],
      config: { trainer: { maxEpochs: 1 }, callbacks: [{ use: 'histograms', everyNSteps: 3, bins: 16 }] },
    });
    expect(result.status).toBe('completed');
    const events = result.recorder.calls.filter((c) => c.hook === 'histograms').map((c) => c.event as { step: number; values: Record<string, Histogram> });
    // 64 samples / batches of 8 = 8 optimizer steps (0–7): steps 0, 3 and 6 are logged, each after its update.
    expect(events.map((e) => e.step)).toEqual([1, 4, 7]);
    for (const event of events) {
      const grads = direct.get(event.step - 1)!;
      expect(Object.keys(grads).sort()).toEqual(['fc1.bias', 'fc1.weight', 'fc2.bias', 'fc2.weight']);
      for (const [name, values] of Object.entries(grads)) expect(event.values[`gradients/${name}`]).toEqual(summarise(values, 16).histogram);
    }
    const metrics = result.recorder.calls.filter((c) => c.hook === 'metrics').map((c) => (c.event as { values: Record<string, number> }).values);
    const norms = metrics.filter((m) => 'grad_norm/total' in m);
    expect(norms).toHaveLength(3);
    const g0 = direct.get(0)!;
    expect(norms[0]['grad_norm/total']).toBeCloseTo(Math.hypot(...Object.values(g0).flat()), 5);
    const lines = readFileSync(`${result.runDir}/histograms.jsonl`, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(3);
  });
});
