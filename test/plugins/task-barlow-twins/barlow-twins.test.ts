import * as tf from '@tensorflow/tfjs';
import { ConfigError, Slots, type ComponentDefinition, type RawTensor, type Registrar, type Task } from '@bt-platform/sdk';
import btPlugin, { barlowTwinsLoss, BarlowTwinsTask, barlowTwinsOptions, createProjector, crossCorrelationLoss } from '@bt-platform/plugin-task-barlow-twins';
import { BatchNorm1d } from '@bt-platform/sdk/nn';
import { readTaskFixture, relativeError, type FixtureTensor } from '../optim/fixtures.js';
import { FakeBackbone, fakeContext } from './fakes.js';

interface LossCase {
  standardize: 'batchnorm' | 'std';
  lambda: number;
  z1: FixtureTensor;
  z2: FixtureTensor;
  loss: number;
  invariance: number;
  redundancy: number;
  diagMean: number;
  offDiagAbsMean: number;
  crossCorrelation: FixtureTensor;
  gradZ1: FixtureTensor;
  gradZ2: FixtureTensor;
}

interface Fixture {
  cases: LossCase[];
  projector: {
    state: Record<string, FixtureTensor>;
    input: FixtureTensor;
    trainOutput: FixtureTensor;
    runningAfter: Record<string, FixtureTensor>;
    evalOutput: FixtureTensor;
  };
}

const fixture = readTaskFixture<Fixture>('barlow-twins.json');
const t = (f: FixtureTensor) => tf.tensor(f.data, f.shape);
const raw = (f: FixtureTensor, name: string): RawTensor =>
  name.endsWith('num_batches_tracked') ? { dtype: 'int32', shape: f.shape, data: Int32Array.from(f.data) } : { dtype: 'float32', shape: f.shape, data: Float32Array.from(f.data) };

function component(name: string): ComponentDefinition<Task> {
  let found: ComponentDefinition<Task> | undefined;
  const registrar: Registrar = {
    component(slot, definition) {
      if (slot === Slots.task && definition.name === name) found = definition as ComponentDefinition<Task>;
    },
  };
  btPlugin.register!(registrar, {});
  return found!;
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('Barlow Twins loss against PyTorch', () => {
  it.each(fixture.cases.map((c, i) => [`${c.standardize}, λ=${c.lambda}, B × D = ${c.z1.shape.join(' × ')}`, i] as const))('%s', (_label, i) => {
    const c = fixture.cases[i];
    const z1 = t(c.z1) as tf.Tensor2D;
    const z2 = t(c.z2) as tf.Tensor2D;
    const terms = barlowTwinsLoss(z1, z2, c.lambda, c.standardize);
    expect(relativeError([terms.loss.dataSync()[0]], [c.loss])).toBeLessThan(1e-5);
    expect(relativeError([terms.invariance.dataSync()[0]], [c.invariance])).toBeLessThan(1e-5);
    expect(relativeError([terms.redundancy.dataSync()[0]], [c.redundancy])).toBeLessThan(1e-5);
    expect(relativeError([terms.diagMean.dataSync()[0]], [c.diagMean])).toBeLessThan(1e-5);
    expect(relativeError([terms.offDiagAbsMean.dataSync()[0]], [c.offDiagAbsMean])).toBeLessThan(1e-5);
    expect(relativeError(terms.crossCorrelation.dataSync(), c.crossCorrelation.data)).toBeLessThan(1e-5);
    const [g1, g2] = tf.grads((a: tf.Tensor, b: tf.Tensor) => barlowTwinsLoss(a as tf.Tensor2D, b as tf.Tensor2D, c.lambda, c.standardize).loss)([z1, z2]);
    expect(relativeError(g1.dataSync(), c.gradZ1.data)).toBeLessThan(1e-5);
    expect(relativeError(g2.dataSync(), c.gradZ2.data)).toBeLessThan(1e-5);
    tf.dispose([z1, z2, g1, g2, ...Object.values(terms)]);
  });

  it('gives the same loss through the model\'s BatchNorm1d(affine=False), as the paper computes it', () => {
    const c = fixture.cases.find((x) => x.standardize === 'batchnorm')!;
    const bn = new BatchNorm1d(c.z1.shape[1], 1e-5, 0.1, false);
    expect(Object.keys(bn.stateDict()).sort()).toEqual(['num_batches_tracked', 'running_mean', 'running_var']);
    const [z1, z2] = [t(c.z1) as tf.Tensor2D, t(c.z2) as tf.Tensor2D];
    const terms = crossCorrelationLoss(bn.call(z1), bn.call(z2), c.lambda);
    expect(relativeError([terms.loss.dataSync()[0]], [c.loss])).toBeLessThan(1e-5);
    expect(Array.from(bn.num_batches_tracked.dataSync())).toEqual([2]);
    tf.dispose([z1, z2, ...Object.values(terms)]);
    bn.dispose();
  });

  it('takes its gradient without D × D tensors when the projector is wider than the batch (C only for the metrics)', async () => {
    const [n, d] = [8, 512];
    const z1 = tf.randomNormal([n, d], 0, 1, 'float32', 1) as tf.Tensor2D;
    const z2 = tf.randomNormal([n, d], 0, 1, 'float32', 2) as tf.Tensor2D;
    const matrixBytes = d * d * 4;
    // C and |C| for the metrics (and tfjs's copies of them saved for the tape); the loss and its gradient
    // use B × B and B × D tensors only. Through C, as for D ≤ B, the gradient holds about 20 of them.
    const info = await tf.profile(() => {
      const grads = tf.grads((a: tf.Tensor, b: tf.Tensor) => barlowTwinsLoss(a as tf.Tensor2D, b as tf.Tensor2D, 5e-3).loss)([z1, z2]);
      tf.dispose(grads);
    });
    expect(info.peakBytes).toBeLessThan(5 * matrixBytes);
    tf.dispose([z1, z2]);
  });

  it('needs at least two samples', () => {
    const z = tf.ones([1, 4]) as tf.Tensor2D;
    expect(() => barlowTwinsLoss(z, z, 5e-3)).toThrow(/at least 2 samples/);
    z.dispose();
  });
});

describe('projector', () => {
  it('has PyTorch names and matches nn.Sequential(Linear, BatchNorm1d, ReLU, …) in train and eval mode', () => {
    const projector = createProjector(6, 8, 3, false, 1);
    const state = Object.fromEntries(Object.entries(fixture.projector.state).map(([k, v]) => [k, raw(v, k)]));
    expect(Object.keys(projector.stateDict()).sort()).toEqual(Object.keys(state).sort());
    projector.loadStateDict(state);
    const x = t(fixture.projector.input);
    projector.train();
    const trainOut = projector.call(x);
    expect(relativeError(trainOut.dataSync(), fixture.projector.trainOutput.data)).toBeLessThan(1e-5);
    const after = projector.stateDict();
    for (const [name, expected] of Object.entries(fixture.projector.runningAfter)) {
      expect(relativeError(after[name].data, expected.data)).toBeLessThan(1e-5);
    }
    projector.eval();
    const evalOut = projector.call(x);
    expect(relativeError(evalOut.dataSync(), fixture.projector.evalOutput.data)).toBeLessThan(1e-5);
    tf.dispose([x, trainOut, evalOut]);
    projector.dispose();
  });
});

describe('barlow-twins task', () => {
  const views = () => ({ view1: tf.randomUniform([4, 8, 8, 3], 0, 1, 'float32', 1), view2: tf.randomUniform([4, 8, 8, 3], 0, 1, 'float32', 2) });

  it('registers as a task that takes the backbone slot; λ ≤ 0 is a config error', async () => {
    const def = component('barlow-twins');
    const backbone = new FakeBackbone(6, 4);
    const ctx = fakeContext([[Slots.backbone, backbone]]);
    const task = (await def.create(def.options!.parse({ projectorDim: 16 }), ctx)) as BarlowTwinsTask;
    expect(task.model.backbone).toBe(backbone);
    for (const lambda of [0, -1]) {
      const error = await Promise.resolve(def.create(def.options!.parse({ lambda }), ctx)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).message).toMatch(/`lambda` must be > 0/);
      expect((error as ConfigError).hint).toMatch(/5e-2/);
    }
    task.model.dispose();
  });

  it('names parameters backbone.… and projector.N.… and returns the loss, its logs and the cross-correlation', () => {
    const task: Task & { model: BarlowTwinsTask['model'] } = new BarlowTwinsTask(new FakeBackbone(6, 4), barlowTwinsOptions.parse({ projectorDim: 16, projectorLayers: 3 }), 3);
    const names = Object.keys(task.model.stateDict());
    expect(names).toEqual(
      expect.arrayContaining(['backbone.embed.weight', 'projector.0.weight', 'projector.1.running_var', 'projector.3.weight', 'projector.6.weight', 'bn.running_mean']),
    );
    expect(names.filter((n) => n.startsWith('projector.')).every((n) => !n.endsWith('.bias') || /projector\.[14]\./.test(n))).toBe(true);
    expect(names.filter((n) => n.startsWith('bn.'))).toEqual(['bn.running_mean', 'bn.running_var', 'bn.num_batches_tracked']);
    const batch = views();
    const out: Record<string, tf.Tensor> = tf.tidy(() => {
      const o = task.trainingStep(batch, { epoch: 0, batchIdx: 0, globalStep: 0, training: true });
      expect(o.logs!.loss).toBeUndefined();
      return { loss: o.loss, ...o.logs!, cc: o.outputs!.crossCorrelation };
    });
    expect(Object.keys(out).sort()).toEqual(['cc', 'diag_mean', 'invariance', 'loss', 'offdiag_abs_mean', 'redundancy']);
    expect(out.cc.shape).toEqual([16, 16]);
    expect(out.loss.dataSync()[0]).toBeCloseTo(out.invariance.dataSync()[0] + 5e-3 * out.redundancy.dataSync()[0], 4);
    tf.dispose([...Object.values(out), ...Object.values(batch)]);
    task.model.dispose();
  });

  it('leaves no tensors behind in training and validation steps', () => {
    const task: Task & { model: BarlowTwinsTask['model'] } = new BarlowTwinsTask(new FakeBackbone(6, 4), barlowTwinsOptions.parse({ projectorDim: 8 }), 3);
    const batch = views();
    const ctx = { epoch: 0, batchIdx: 0, globalStep: 0, training: true };
    const trainStep = () => {
      const { value, grads } = tf.variableGrads(() => task.trainingStep(batch, ctx).loss, Object.values(task.model.trainableVariables()));
      tf.dispose([value, ...Object.values(grads)]);
    };
    trainStep();
    const before = tf.memory().numTensors;
    trainStep();
    trainStep();
    expect(tf.memory().numTensors).toBe(before);
    task.model.eval();
    tf.tidy(() => {
      task.validationStep(batch, { ...ctx, training: false });
    });
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(Object.values(batch));
    task.model.dispose();
  });

  it('evaluates a batch of one image with the tracked statistics, but refuses to train on one', () => {
    const task: Task & { model: BarlowTwinsTask['model'] } = new BarlowTwinsTask(new FakeBackbone(6, 4), barlowTwinsOptions.parse({ projectorDim: 8 }), 3);
    const one = { view1: tf.randomUniform([1, 8, 8, 3], 0, 1, 'float32', 1), view2: tf.randomUniform([1, 8, 8, 3], 0, 1, 'float32', 2) };
    const ctx = { epoch: 0, batchIdx: 0, globalStep: 0, training: false };
    task.model.eval();
    const loss = tf.tidy(() => task.validationStep(one, ctx).loss.dataSync()[0]);
    expect(Number.isFinite(loss)).toBe(true);
    task.model.train();
    expect(() => tf.tidy(() => task.trainingStep(one, { ...ctx, training: true }).loss)).toThrow(/at least 2 samples per training batch/);
    tf.dispose(Object.values(one));
    task.model.dispose();
  });

  it('says which batch keys it needs', () => {
    const task: Task & { model: BarlowTwinsTask['model'] } = new BarlowTwinsTask(new FakeBackbone(6, 4), barlowTwinsOptions.parse({ projectorDim: 8 }), 3);
    const image = tf.zeros([2, 8, 8, 3]);
    expect(() => task.trainingStep({ image }, { epoch: 0, batchIdx: 0, globalStep: 0, training: true })).toThrow(/`view1` and `view2`; got keys: image/);
    image.dispose();
    task.model.dispose();
  });
});
