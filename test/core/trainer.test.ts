import * as tf from '@tensorflow/tfjs';
import { runTinyFit, ToyLinear, ToyTask } from '@bt-platform/sdk/testing';
import { Module, Slots } from '@bt-platform/sdk';
import type { PluginDefinition, StepResultEvent } from '@bt-platform/sdk';

class DeepToy extends Module {
  readonly layers: ToyLinear[];

  constructor(width: number, depth: number, seed: number) {
    super();
    this.layers = Array.from({ length: depth }, (_, i) => this.registerModule(`fc${i}`, new ToyLinear(width, width, seed + i)));
  }

  forward(x: tf.Tensor2D): tf.Tensor2D {
    return this.layers.reduce((h, layer) => layer.call(h), x);
  }
}

function lossRecorder(losses: number[]): PluginDefinition {
  return {
    name: 'loss-recorder',
    apply(hooks) {
      hooks.trainBatchEnd.tapPromise('loss-recorder', async (e: StepResultEvent) => {
        losses.push(e.loss);
      });
    },
  };
}

function weightsRecorder(out: Record<string, number[]>): PluginDefinition {
  return {
    name: 'weights-recorder',
    apply(hooks) {
      hooks.fitEnd.tapPromise('weights-recorder', async () => {});
      hooks.setup.tapPromise('weights-recorder', async (e) => {
        hooks.fitEnd.tapPromise('weights-recorder-end', async () => {
          for (const [name, v] of e.task.model.namedParameters()) out[name] = Array.from(v.dataSync());
        });
      });
    },
  };
}

describe('trainer', () => {
  test('the same seed gives identical losses; another seed differs', async () => {
    const runs: number[][] = [[], [], []];
    for (const [i, seed] of [1, 1, 2].entries()) {
      await runTinyFit({ config: { seed, trainer: { maxEpochs: 2 } }, plugins: [lossRecorder(runs[i])] });
    }
    expect(runs[0].length).toBeGreaterThan(4);
    expect(runs[1]).toEqual(runs[0]);
    expect(runs[2]).not.toEqual(runs[0]);
  });

  test("a task's startEpoch runs before each training epoch's first batch, in training mode", async () => {
    const events: string[] = [];
    const observer: PluginDefinition = {
      name: 'start-epoch-observer',
      apply(hooks) {
        hooks.setup.tapPromise('start-epoch-observer', async (e) => {
          e.task.startEpoch = (epoch: number) => void events.push(`start ${epoch} ${e.task.model.training ? 'train' : 'eval'}`);
        });
        hooks.trainBatchStart.tap('start-epoch-observer', (e) => {
          if (e.batchIdx === 0) events.push(`batch ${e.epoch}`);
        });
      },
    };
    await runTinyFit({ config: { trainer: { maxEpochs: 3 } }, plugins: [observer] });
    expect(events).toEqual(['start 0 train', 'batch 0', 'start 1 train', 'batch 1', 'start 2 train', 'batch 2']);
  });

  test('accumulating 2 batches of 4 equals one batch of 8', async () => {
    const accumulated: Record<string, number[]> = {};
    const whole: Record<string, number[]> = {};
    await runTinyFit({
      config: { data: { use: 'toy', samples: 32, batchSize: 4 }, trainer: { maxEpochs: 2, accumulateGradBatches: 2 } },
      plugins: [weightsRecorder(accumulated)],
    });
    await runTinyFit({ config: { data: { use: 'toy', samples: 32, batchSize: 8 }, trainer: { maxEpochs: 2 } }, plugins: [weightsRecorder(whole)] });
    expect(Object.keys(accumulated).sort()).toEqual(['fc1.bias', 'fc1.weight', 'fc2.bias', 'fc2.weight']);
    for (const name of Object.keys(whole)) {
      accumulated[name].forEach((v, i) => expect(v).toBeCloseTo(whole[name][i], 5));
    }
  });

  test('accumulating gradients on the wasm heap keeps the running sum outside it', async () => {
    // Eight equal layers whose parameters dwarf the activations: what accumulation would add to the
    // heap's peak is the running sum, one copy of the parameters; on the host it adds nothing.
    const [width, depth] = [96, 8];
    const parameterBytes = 4 * depth * (width * width + width);
    const deep: PluginDefinition = {
      name: 'deep-toy',
      register(registrar: import('@bt-platform/sdk').Registrar) {
        registrar.component(Slots.task, {
          name: 'deep-toy',
          create: (_o: unknown, ctx: import('@bt-platform/sdk').RunContext) => {
            const model = new DeepToy(width, depth, ctx.rng.tfSeed());
            const step = (b: import('@bt-platform/sdk').Batch) => ({ loss: tf.mean(tf.square(tf.sub(tf.mean(model.call(b.x as tf.Tensor2D), 1, true), b.y))) as tf.Scalar });
            return { model, trainingStep: step, validationStep: step };
          },
        });
      },
    };
    // The wasm heap's own count: tfjs's byte count would also count the tape's copies of the weights.
    const peak = async (accumulateGradBatches: number) => {
      let backend: import('@bt-platform/sdk').Backend | undefined;
      let most = 0;
      const probe: PluginDefinition = {
        name: 'heap-probe',
        apply(hooks, ctx) {
          hooks.setup.tapPromise('heap-probe', async () => void (backend = await ctx.get(Slots.backend)));
          hooks.trainBatchStart.tap('heap-probe', () => void backend!.resetMemoryPeak!());
          hooks.trainBatchEnd.tapPromise('heap-probe', async () => void (most = Math.max(most, backend!.memory!()!.peak)));
        },
      };
      const config = {
        backend: { use: 'wasm' },
        data: { use: 'toy', samples: 16, batchSize: 2, features: width },
        task: { use: 'deep-toy' },
        optimizer: { use: 'sgd', lr: 1e-4 },
        trainer: { maxEpochs: 1, accumulateGradBatches },
      };
      await runTinyFit({ config, plugins: [deep, probe] });
      return most;
    };
    const extra = (await peak(4)) - (await peak(1));
    // Measured: 0 (the sums on the host); 0.88 × the parameters' bytes with the sums on the heap, 1.75 ×
    // when every gradient was also scaled into a new copy.
    expect(extra).toBeLessThan(0.25 * parameterBytes);
  });

  test('fastDevRun trains one batch and validates one batch', async () => {
    const { recorder, summary } = await runTinyFit({ config: { trainer: { maxEpochs: 5, fastDevRun: true } } });
    expect(recorder.names.filter((n) => n === 'trainBatchEnd')).toHaveLength(1);
    expect(recorder.names.filter((n) => n === 'validationBatchEnd')).toHaveLength(1);
    expect(summary.steps).toBe(1);
  });

  test('maxSteps stops mid-epoch and reports why', async () => {
    const { status, reason, summary } = await runTinyFit({ config: { trainer: { maxEpochs: 10, maxSteps: 5 } } });
    expect(summary.steps).toBe(5);
    expect(status).toBe('stopped');
    expect(reason).toMatch(/maxSteps \(5\)/);
  });

  test('a NaN loss is skipped with onNonFiniteLoss=skip, the rest trains', async () => {
    const losses: number[] = [];
    const { summary } = await runTinyFit({
      config: { data: { use: 'toy', samples: 32, batchSize: 8, nanFrom: 24 }, trainer: { maxEpochs: 1, onNonFiniteLoss: 'skip' } },
      plugins: [lossRecorder(losses)],
    });
    // The NaN target is in whichever batch holds samples 24..31 after shuffling; that batch makes no step.
    expect(summary.steps).toBeLessThan(4);
    expect(losses.every((l) => Number.isFinite(l))).toBe(true);
  });

  test('a NaN loss stops the run by default, naming the step', async () => {
    await expect(runTinyFit({ config: { data: { use: 'toy', samples: 16, batchSize: 8, nanFrom: 0 } } })).rejects.toThrow(/loss is NaN at epoch 0, batch 0/);
  });

  test('a task may log the loss tensor itself', async () => {
    const seen: number[] = [];
    const task = {
      name: 'loss-logging-task',
      register(registrar: import('@bt-platform/sdk').Registrar) {
        registrar.component(Slots.task, {
          name: 'loss-logging',
          create: (_o: unknown, ctx: import('@bt-platform/sdk').RunContext) => {
            const inner = new ToyTask({ hidden: 4, features: 4 }, ctx.rng.tfSeed());
            const withLog = (out: import('@bt-platform/sdk').StepOutput) => ({ ...out, logs: { again: out.loss } });
            return {
              model: inner.model,
              trainingStep: (b: import('@bt-platform/sdk').Batch) => withLog(inner.trainingStep(b)),
              validationStep: (b: import('@bt-platform/sdk').Batch) => withLog(inner.validationStep(b)),
            };
          },
        });
      },
      apply(hooks: import('@bt-platform/sdk').HookView) {
        hooks.trainBatchEnd.tapPromise('loss-logging-task', async (e) => {
          seen.push(e.logs.again - e.loss);
        });
      },
    } as PluginDefinition;
    const { metrics } = await runTinyFit({ config: { task: { use: 'loss-logging' } }, plugins: [task] });
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((d) => d === 0)).toBe(true);
    expect(metrics['val/again']).toBeCloseTo(metrics['val/loss'], 6);
  });

  test('a finished run releases its model and optimizer state', async () => {
    await runTinyFit({ config: { optimizer: { use: 'adamw', lr: 0.01 } } }); // loads modules, starts the backend
    const before = tf.memory().numTensors;
    await runTinyFit({ config: { optimizer: { use: 'adamw', lr: 0.01 }, callbacks: [{ use: 'checkpoint' }] } });
    expect(tf.memory().numTensors).toBe(before);
  });

  test('training and validation steps leave the tensor count unchanged', async () => {
    const counts: number[] = [];
    const valCounts: number[] = [];
    await runTinyFit({
      config: { optimizer: { use: 'adamw', lr: 0.01 }, trainer: { maxEpochs: 3 } },
      plugins: [
        {
          name: 'leak-check',
          apply(hooks) {
            hooks.trainBatchStart.tap('leak-check', () => {
              counts.push(tf.memory().numTensors);
              return undefined;
            });
            hooks.validationStart.tapPromise('leak-check', async () => {
              valCounts.push(tf.memory().numTensors);
            });
          },
        },
      ],
    });
    // The first step creates the optimizer's moment variables; from then on nothing accumulates.
    expect(new Set(counts.slice(1))).toEqual(new Set([counts[1]]));
    expect(new Set(valCounts)).toEqual(new Set([valCounts[0]]));
  });
});

describe('a split that yields no batch is an error, never a run of zero steps', () => {
  const error = async (promise: Promise<unknown>) => {
    const e = await promise.then(() => undefined, (err: unknown) => err as import('@bt-platform/sdk').BtError);
    expect(e).toBeDefined();
    return e!;
  };

  test('a batch size larger than the training set with drop-last is a config error naming the counts and the fix', async () => {
    const e = await error(runTinyFit({ config: { data: { use: 'toy', samples: 6, valSamples: 8, batchSize: 8 }, callbacks: [{ use: 'checkpoint', monitor: 'val/loss' }] } }));
    expect(e.exitCode).toBe(2);
    expect(e.message).toMatch(/train split lists 6 samples, fewer than the batch size \(8\)/);
    expect(e.hint).toMatch(/data\.batchSize to 6 or less, or data\.dropLast: false/);
  });

  test('a training split whose samples are all unusable stops with the counts', async () => {
    const e = await error(runTinyFit({ config: { data: { use: 'toy', samples: 16, valSamples: 8, unusableFrom: 0 } } }));
    expect(e.exitCode).toBe(1);
    expect(e.message).toMatch(/train split yielded no batch in epoch 0: 16 samples listed, 16 skipped as unusable, batch size 8/);
  });

  test('a validation split whose samples are all unusable stops before the checkpoint sees empty metrics', async () => {
    const e = await error(runTinyFit({ config: { data: { use: 'toy', samples: 16, valSamples: 8, unusableFrom: 16 }, callbacks: [{ use: 'checkpoint', monitor: 'val/loss' }] } }));
    expect(e.exitCode).toBe(1);
    expect(e.message).toMatch(/val split yielded no batch: 8 samples listed, 8 skipped as unusable, batch size 8/);
  });

  test('test with no usable sample is an error naming the test split', async () => {
    const e = await error(runTinyFit({ command: 'test', config: { data: { use: 'toy', samples: 16, valSamples: 8, unusableFrom: 16 } } }));
    expect(e.message).toMatch(/test split yielded no batch/);
  });

  test('an incomplete batch is trained with dropLast: false', async () => {
    const { summary } = await runTinyFit({ config: { data: { use: 'toy', samples: 6, valSamples: 8, batchSize: 8, dropLast: false }, trainer: { maxEpochs: 1 } } });
    expect(summary.steps).toBe(1);
  });
});
