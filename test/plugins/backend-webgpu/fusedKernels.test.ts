import * as tf from '@tensorflow/tfjs';
import { countGpuWork, FUSED_KERNELS, useWebGpuBackend } from '@bt-platform/plugin-backend-webgpu';
import { attention, BatchNorm1d, batchNormTraining, FusedKernel, gelu, layerNorm, Linear, softmax } from '@bt-platform/sdk/nn';
import { AdamW, adamWOptions } from '@bt-platform/plugin-optim';

const unavailable = await useWebGpuBackend({ allowSoftware: true }).then(
  () => undefined,
  (error: Error) => error.message,
);
if (unavailable) console.warn(`backend-webgpu fused kernel tests skipped: ${unavailable}`);
const describeWebGpu = unavailable ? describe.skip : describe;

let seed = 100;
const randn = (shape: number[]) => tf.randomNormal(shape, 0, 1, 'float32', seed++);
const device = () => (tf.backend() as unknown as { device: { limits: { maxStorageBuffersPerShaderStage: number } } }).device;

type Fn = (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[];
interface Run {
  values: Array<{ shape: number[]; values: Float32Array }>;
  programs: Record<string, number>;
}

async function runOn(backend: string, inputs: tf.Tensor[], f: Fn): Promise<Run> {
  if (backend === 'webgpu') await useWebGpuBackend({ allowSoftware: true });
  else await tf.setBackend(backend);
  const copies = inputs.map((x) => tf.tensor(x.dataSync(), x.shape, x.dtype));
  const before = tf.memory().numTensors;
  const counter = backend === 'webgpu' ? countGpuWork() : undefined;
  const outs = tf.tidy(() => {
    const r = f(...copies);
    return Array.isArray(r) ? r : [r];
  });
  const values = outs.map((o) => ({ shape: o.shape, values: o.dataSync() as Float32Array }));
  const programs = counter?.snapshot().programs ?? {};
  tf.dispose(outs);
  expect(tf.memory().numTensors).toBe(before);
  tf.dispose(copies);
  return { values, programs };
}

/** Runs `f` on cpu (the SDK's composite ops) and on webgpu (the fused kernels): equal to 1e-4 of each output's scale. */
async function matchesCpu(inputs: tf.Tensor[], f: Fn, what: string, fused: string[]): Promise<void> {
  const expected = await runOn('cpu', inputs, f);
  const actual = await runOn('webgpu', inputs, f);
  for (const name of fused) expect({ what, ran: name in actual.programs ? name : actual.programs }).toEqual({ what, ran: name });
  expect(actual.values.length).toBe(expected.values.length);
  actual.values.forEach((a, i) => {
    const e = expected.values[i];
    expect({ what, shape: a.shape }).toEqual({ what, shape: e.shape });
    let scale = 1e-6;
    for (const v of e.values) scale = Math.max(scale, Math.abs(v));
    let worst = 0;
    for (let j = 0; j < e.values.length; j++) {
      const d = Math.abs(a.values[j] - e.values[j]);
      worst = Number.isNaN(d) ? Infinity : Math.max(worst, d);
    }
    expect({ what, output: i, relativeError: worst / scale < 1e-4 ? 'ok' : worst / scale }).toEqual({ what, output: i, relativeError: 'ok' });
  });
  tf.dispose(inputs);
}

/** Forward output and the gradient of sum(output · random weights) with respect to every input. */
function withGrads(f: (...xs: tf.Tensor[]) => tf.Tensor): Fn {
  return (...xs) => {
    const y = f(...xs);
    const w = tf.randomNormal(y.shape, 0, 1, 'float32', 7);
    const grads = tf.grads((...ys: tf.Tensor[]) => tf.sum(tf.mul(f(...ys), w)))(xs);
    return [y, ...grads];
  };
}

describeWebGpu('WGSL kernels for the SDK fused ops match the composite ops on cpu', () => {
  it('covers every fused op of the SDK', () => {
    expect(Object.keys(FUSED_KERNELS).sort()).toEqual(Object.values(FusedKernel).sort());
    for (const name of Object.values(FusedKernel)) expect(tf.getKernel(name, 'webgpu')).toBeDefined();
  });

  it('GELU and softmax, forward and gradient', async () => {
    for (const shape of [[7], [3, 5], [2, 9, 33], [2, 3, 17, 200]]) {
      const scaled = () => tf.mul(randn(shape), 3);
      await matchesCpu([scaled()], withGrads((x) => gelu(x)), `gelu ${shape}`, ['BtGelu', 'BtGeluGrad']);
      await matchesCpu([scaled()], withGrads((x) => softmax(x)), `softmax ${shape}`, ['BtSoftmaxGrad']);
    }
    await matchesCpu([tf.mul(randn([4, 50]), 40)], withGrads((x) => softmax(x)), 'softmax of large logits', ['BtSoftmaxGrad']);
  });

  it('attention, forward and gradient, over token counts below and above one workgroup', async () => {
    for (const [b, n, heads, hd] of [[1, 1, 1, 4], [2, 5, 3, 4], [2, 17, 3, 8], [1, 197, 2, 32]]) {
      const scale = hd ** -0.5;
      await matchesCpu([tf.mul(randn([b, n, 3 * heads * hd]), 2)], withGrads((qkv) => attention(qkv as tf.Tensor3D, heads, scale)), `attention B=${b} N=${n} heads=${heads} hd=${hd}`, ['BtAttention', 'BtAttentionGradQueries', 'BtAttentionGradKeys']);
    }
  });

  it('Linear with a bias: one matmul program forward, and forward and gradients of x, weight and bias', async () => {
    const layer = new Linear(24, 10, 5, true, 'torch');
    const forward = await runOn('webgpu', [randn([2, 7, 24])], (x) => layer.call(x));
    expect(Object.entries(forward.programs)).toEqual([[expect.stringMatching(/^MatMul/), 1]]);
    const withParameterGrads = (x: tf.Tensor) => {
      const w = tf.randomNormal([2, 7, 10], 0, 1, 'float32', 7);
      const loss = (input: tf.Tensor) => tf.sum(tf.mul(layer.call(input), w));
      const { value, grads } = tf.variableGrads(() => loss(x) as tf.Scalar, [layer.weight, layer.bias!]);
      return [value, tf.grad(loss)(x), grads[layer.weight.name], grads[layer.bias!.name]];
    };
    await matchesCpu([randn([2, 7, 24])], withParameterGrads, 'Linear 24→10', ['BtColumnSum']);
    layer.dispose();
  });

  it('sums over every axis but the last as a column reduction (a bias gradient), and leaves other sums to tfjs', async () => {
    const cases: Array<[number[], number | number[], boolean, string[]]> = [
      [[68, 576], 0, false, ['BtColumnSum']],
      [[1, 68, 192], [0, 1], false, ['BtColumnSum']],
      [[2, 5, 3, 7], [2, 0, -3], true, ['BtColumnSum']],
      [[3000, 40], 0, false, ['BtColumnSumPartials', 'BtColumnSumFinish']],
    ];
    for (const [shape, axis, keepDims, programs] of cases) await matchesCpu([randn(shape)], (x) => tf.sum(x, axis, keepDims), `sum ${shape} over ${axis}`, programs);
    for (const [shape, axis] of [[[68, 576], 1], [[4, 6, 5], [0, 2]], [[4, 6], [0, 1]], [[12], 0]] as Array<[number[], number | number[]]>) {
      const run = await runOn('webgpu', [randn(shape)], (x) => tf.sum(x, axis));
      expect({ shape, axis, columnSum: Object.keys(run.programs).some((p) => p.startsWith('BtColumnSum')) }).toEqual({ shape, axis, columnSum: false });
    }
    const ints = await runOn('webgpu', [tf.ones([6, 4], 'int32')], (x) => tf.sum(x, 0));
    expect(Array.from(ints.values[0].values)).toEqual([6, 6, 6, 6]);
  });

  it('layer norm, forward and gradient, including constant and large rows', async () => {
    for (const shape of [[7], [3, 5], [2, 9, 33], [1, 24, 300], [3000, 8]]) {
      const d = shape[shape.length - 1];
      await matchesCpu([tf.add(tf.mul(randn(shape), 3), 5), randn([d]), randn([d])], withGrads((x, g, b) => layerNorm(x, g, b, 1e-6)), `layerNorm ${shape}`, ['BtLayerNorm', 'BtLayerNormGradDx', 'BtLayerNormGradSums']);
    }
    await matchesCpu([tf.concat([tf.fill([2, 16], 3), tf.mul(randn([2, 16]), 1e3)]), randn([16]), randn([16])], withGrads((x, g, b) => layerNorm(x, g, b, 1e-5)), 'layerNorm constant and large rows', ['BtLayerNorm']);
  });

  it('batch norm and its statistics, forward and gradient, over one and several row chunks', async () => {
    // [2, 40, 40, 6]: 3200 rows per channel, summed in 4 chunks.
    for (const shape of [[5, 3], [2, 7, 6, 16], [64, 70], [2, 40, 40, 6]]) {
      const c = shape[shape.length - 1];
      const inputs = () => [tf.add(tf.mul(randn(shape), 2), 3), randn([c]), randn([c])];
      const withStatistics = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
        let statistics: tf.Tensor[] = [];
        const y = batchNormTraining(1e-5, (mean, variance) => void (statistics = [mean, variance].map((t) => tf.keep(tf.clone(t)))))(x, g, b);
        return [y, ...statistics];
      };
      await matchesCpu(inputs(), withStatistics, `batchNorm ${shape} and its statistics`, ['BtBatchNormSums', 'BtBatchNormStats', 'BtBatchNormApply']);
      await matchesCpu(inputs(), withGrads(batchNormTraining(1e-5, () => {})), `batchNorm ${shape} gradients`, ['BtBatchNormGradSums', 'BtColumnSums', 'BtBatchNormGradDx']);
    }
  });

  it('batch norm running statistics and batch counter (BtRunningStats) equal the composite on cpu, updated in place unless shared', async () => {
    const x = randn([6, 5]).dataSync();
    const track = async (backend: string) => {
      if (backend === 'webgpu') await useWebGpuBackend({ allowSoftware: true });
      else await tf.setBackend(backend);
      const counter = countGpuWork();
      const bn = new BatchNorm1d(5).train();
      const input = tf.tensor2d(x, [6, 5]);
      const scaled = tf.mul(input, 3) as tf.Tensor2D;
      const ids: tf.DataId[] = [];
      let kept: tf.Tensor | undefined;
      let before: number[] = [];
      for (let step = 0; step < 3; step++) {
        if (step === 2) {
          // A clone shares the running mean's data: it must keep the value it had.
          kept = tf.clone(bn.running_mean);
          before = Array.from(kept.dataSync());
        }
        tf.dispose(bn.call(step === 1 ? scaled : input));
        ids.push(bn.running_mean.dataId);
      }
      expect(Array.from(kept!.dataSync())).toEqual(before);
      const stats = [bn.running_mean, bn.running_var, bn.num_batches_tracked].map((t) => Array.from(t.dataSync()));
      expect(bn.num_batches_tracked.dtype).toBe('int32');
      const programs = counter.snapshot().programs;
      tf.dispose([input, scaled, kept!]);
      bn.dispose();
      return { stats, ids, programs };
    };
    const expected = await track('cpu');
    const actual = await track('webgpu');
    for (let i = 0; i < 2; i++) {
      const worst = Math.max(...actual.stats[i].map((a, j) => Math.abs(a - expected.stats[i][j])));
      expect(worst).toBeLessThan(1e-5 * Math.max(1, ...expected.stats[i].map(Math.abs)));
    }
    expect([expected.stats[2], actual.stats[2]]).toEqual([[3], [3]]); // num_batches_tracked
    // The first two updates in place (the same data), the third into new tensors (the clone).
    expect({ inPlace: actual.programs.BtRunningStatsInPlace, copied: actual.programs.BtRunningStats }).toEqual({ inPlace: 2, copied: 1 });
    expect(actual.ids[1]).toBe(actual.ids[0]);
    expect(actual.ids[2]).not.toBe(actual.ids[1]);
  });

  it("the optim plugin's AdamW steps (BtAdam) equal its composite form on cpu, in place or not", async () => {
    const shapes = [[3], [17, 5], [3, 3, 8, 4], [1], [70000], [0, 4], [5, 5], [2]];
    const values = shapes.map((shape) => randn(shape).dataSync());
    const gradients = [0, 1, 2].map(() => shapes.map((shape) => randn(shape).dataSync()));
    const train = async (backend: string) => {
      if (backend === 'webgpu') await useWebGpuBackend({ allowSoftware: true });
      else await tf.setBackend(backend);
      const counter = countGpuWork();
      const optimizer = new AdamW(adamWOptions.parse({ lr: 0.01, weightDecay: 0.1, eps: 1e-6 }));
      const initial = shapes.map((shape, i) => tf.tensor(values[i], shape));
      const variables = Object.fromEntries(shapes.map((_, i) => [`p${i}`, tf.variable(initial[i])]));
      const before = tf.memory().numTensors;
      let alias: tf.Tensor | undefined;
      let afterFirst: Float32Array | undefined;
      gradients.forEach((step, n) => {
        if (n === 1) {
          // A value read back is cached on the host, and a clone shares the variable's data: an
          // update in place must neither leave the cache stale nor change the clone.
          for (const v of Object.values(variables)) v.dataSync();
          afterFirst = variables.p1.dataSync().slice() as Float32Array;
          alias = tf.clone(variables.p1);
        }
        const grads = Object.fromEntries(shapes.map((shape, i) => [`p${i}`, tf.tensor(step[i], shape)]));
        optimizer.step(variables, grads, 0.01);
        tf.dispose(Object.values(grads));
      });
      expect(tf.memory().numTensors).toBe(before + 2 * shapes.length + 1); // the moments, created on the first step, and the clone
      expect(Array.from(alias!.dataSync())).toEqual(Array.from(afterFirst!));
      const result = Object.values(variables).map((v) => Array.from(v.dataSync()));
      optimizer.dispose();
      tf.dispose([...Object.values(variables), ...initial, alias!]);
      return { values: result.flat(), programs: counter.snapshot().programs };
    };
    const expected = await train('cpu');
    const actual = await train('webgpu');
    // Step 1: the tensors the variables were made from still share their data, so new buffers;
    // step 2: in place but for the cloned p1; step 3: all in place, several parameters a dispatch.
    const perDispatch = Math.min(8, Math.floor(device().limits.maxStorageBuffersPerShaderStage / 4));
    const inPlace = Object.entries(actual.programs).filter(([name]) => name.startsWith('BtAdamInPlace'));
    const updatesInPlace = inPlace.reduce((total, [name, dispatches]) => total + dispatches * (Number(name.slice('BtAdamInPlace'.length)) || 1), 0);
    expect({ BtAdam: actual.programs.BtAdam, updatesInPlace }).toEqual({ BtAdam: 8, updatesInPlace: 13 });
    expect(perDispatch).toBeGreaterThanOrEqual(2);
    expect(inPlace.reduce((total, [, dispatches]) => total + dispatches, 0)).toBe(Math.ceil(6 / perDispatch) + Math.ceil(7 / perDispatch));
    const worst = Math.max(...actual.values.map((a, i) => Math.abs(a - expected.values[i])));
    expect(worst).toBeLessThan(1e-4 * Math.max(1, ...expected.values.map(Math.abs)));
    expect(actual.values).not.toEqual(values.flatMap((v) => Array.from(v)));
  });
});
