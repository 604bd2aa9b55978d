import * as tf from '@tensorflow/tfjs';
import { hostVectorExtension } from '@bt-platform/sdk';
import { FUSED_KERNELS, installNativeKernels, loadAddon, NATIVE_KERNELS, useNativeBackend } from '@bt-platform/plugin-backend-native';
import { batchNormTraining, FusedKernel, gelu, layerNorm, softmax } from '@bt-platform/sdk/nn';
import { AdamW, adamWOptions } from '@bt-platform/plugin-optim';

const status = loadAddon();
if (!status.addon) console.warn(`backend-native kernel tests skipped: ${status.reason}`);
const describeNative = status.addon ? describe : describe.skip;

/** A small deterministic generator for shapes and permutations. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}
const rand = lcg(42);
const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
let seed = 100;
const randn = (shape: number[]) => tf.randomNormal(shape, 0, 1, 'float32', seed++);

type Fn = (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[];

async function runOn(backend: string, inputs: tf.Tensor[], f: Fn): Promise<Array<{ shape: number[]; values: Float32Array | Int32Array | Uint8Array }>> {
  await tf.setBackend(backend);
  const copies = inputs.map((x) => tf.tensor(x.dataSync(), x.shape, x.dtype));
  const before = tf.memory().numTensors;
  const outs = tf.tidy(() => {
    const r = f(...copies);
    return Array.isArray(r) ? r : [r];
  });
  const result = outs.map((o) => ({ shape: o.shape, values: o.dataSync() as Float32Array }));
  tf.dispose(outs);
  expect(tf.memory().numTensors).toBe(before);
  tf.dispose(copies);
  return result;
}

/** Runs `f` on cpu and on wasm with the native kernels, and compares to 1e-5 of the outputs' scale. */
async function matchesCpu(inputs: tf.Tensor[], f: Fn, what: string): Promise<void> {
  const expected = await runOn('cpu', inputs, f);
  const actual = await runOn('wasm', inputs, f);
  expect(actual.length).toBe(expected.length);
  actual.forEach((a, i) => {
    const e = expected[i];
    expect({ what, shape: a.shape }).toEqual({ what, shape: e.shape });
    let scale = 1;
    for (const v of e.values) scale = Math.max(scale, Math.abs(v));
    let worst = 0;
    for (let j = 0; j < e.values.length; j++) {
      const d = Math.abs(a.values[j] - e.values[j]);
      worst = Number.isNaN(d) ? Infinity : Math.max(worst, d);
    }
    expect({ what, relativeError: worst / scale < 1e-5 ? 'ok' : worst / scale }).toEqual({ what, relativeError: 'ok' });
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

describeNative('native kernels match the cpu backend', () => {
  beforeAll(async () => {
    const info = await useNativeBackend();
    expect(info.name).toBe('native');
    expect(tf.getBackend()).toBe('wasm');
  });

  it('overrides every kernel it lists and provides every fused kernel of the SDK', () => {
    expect(installNativeKernels(status.addon!)).toEqual(expect.arrayContaining([...Object.keys(NATIVE_KERNELS), ...Object.keys(FUSED_KERNELS)]));
    // Attention runs as the SDK's composite ops on this backend (no native kernel); the Adam step one
    // parameter at a time (BtAdam), as its state comes onto the capped heap one parameter at a time;
    // running statistics as composite ops (a few small ones per layer on the CPU).
    const elsewhere: string[] = [FusedKernel.attention, FusedKernel.attentionGrad, FusedKernel.adamMulti, FusedKernel.runningStats];
    const nativeFused = Object.values(FusedKernel).filter((name) => !elsewhere.includes(name));
    expect(Object.keys(FUSED_KERNELS).sort()).toEqual(nativeFused.sort());
    for (const name of nativeFused) expect(tf.getKernel(name, 'wasm')).toBeDefined();
  });

  it('fused GELU, layer norm, batch norm and softmax (and tfjs softmax), forward and gradients, equal the composite ops on cpu', async () => {
    for (const shape of [[7], [3, 5], [2, 9, 33], [2, 3, 17, 65], [1, 24, 768]]) {
      const d = shape[shape.length - 1];
      const scaled = (s: number[]) => tf.mul(randn(s), 3);
      await matchesCpu([scaled(shape)], withGrads((x) => gelu(x)), `gelu ${shape}`);
      await matchesCpu([scaled(shape)], withGrads((x) => softmax(x)), `softmax ${shape}`);
      await matchesCpu([scaled(shape)], withGrads((x) => tf.softmax(x)), `tf.softmax ${shape}`);
      await matchesCpu([tf.add(scaled(shape), 5), randn([d]), randn([d])], withGrads((x, g, b) => layerNorm(x, g, b, 1e-6)), `layerNorm ${shape}`);
    }
    for (const shape of [[5, 3], [2, 7, 6, 16], [64, 40]]) {
      const c = shape[shape.length - 1];
      const inputs = () => [tf.add(tf.mul(randn(shape), 2), 3), randn([c]), randn([c])];
      const withStatistics = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
        let statistics: tf.Tensor[] = [];
        const y = batchNormTraining(1e-5, (mean, variance) => void (statistics = [mean, variance].map((t) => tf.keep(tf.clone(t)))))(x, g, b);
        return [y, ...statistics];
      };
      await matchesCpu(inputs(), withStatistics, `batchNorm ${shape} and its statistics`);
      await matchesCpu(inputs(), withGrads(batchNormTraining(1e-5, () => {})), `batchNorm ${shape} gradients`);
    }
    // Constant rows (zero variance) and large magnitudes stay finite and match.
    await matchesCpu([tf.concat([tf.fill([2, 16], 3), tf.mul(randn([2, 16]), 1e3)]), randn([16]), randn([16])], withGrads((x, g, b) => layerNorm(x, g, b, 1e-5)), 'layerNorm constant and large rows');
    await matchesCpu([tf.mul(randn([4, 50]), 40)], withGrads((x) => softmax(x)), 'softmax of large logits');
  });

  it("the optim plugin's AdamW steps (BtAdam) equal its composite form on cpu", async () => {
    const shapes = [[3], [17, 5], [3, 3, 8, 4]];
    const values = shapes.map((shape) => randn(shape).dataSync());
    const gradients = [0, 1, 2].map(() => shapes.map((shape) => randn(shape).dataSync()));
    const train = async (backend: string) => {
      await tf.setBackend(backend);
      const optimizer = new AdamW(adamWOptions.parse({ lr: 0.01, weightDecay: 0.1, eps: 1e-6 }));
      const variables = Object.fromEntries(shapes.map((shape, i) => [`p${i}`, tf.variable(tf.tensor(values[i], shape))]));
      const before = tf.memory().numTensors;
      for (const step of gradients) {
        const grads = Object.fromEntries(shapes.map((shape, i) => [`p${i}`, tf.tensor(step[i], shape)]));
        optimizer.step(variables, grads, 0.01);
        tf.dispose(Object.values(grads));
      }
      expect(tf.memory().numTensors).toBe(before + 2 * shapes.length); // the moments, created on the first step
      const result = Object.values(variables).map((v) => Array.from(v.dataSync()));
      optimizer.dispose();
      tf.dispose(Object.values(variables));
      return result.flat();
    };
    const expected = await train('cpu');
    const actual = await train('wasm');
    expect(tf.getKernel(FusedKernel.adam, 'wasm')).toBeDefined();
    const worst = Math.max(...actual.map((a, i) => Math.abs(a - expected[i])));
    expect(worst).toBeLessThan(1e-5 * Math.max(1, ...expected.map(Math.abs)));
    expect(actual).not.toEqual(values.flatMap((v) => Array.from(v)));
  });

  it('BatchMatMul: transposes, batch dims, broadcasting, odd sizes, forward and gradient', async () => {
    const cases: Array<[number[], number[]]> = [
      [[], []],
      [[3], [3]],
      [[2, 3], [2, 3]],
      [[4], []],
      [[], [5]],
      [[1], [6]],
      [[2, 1], [2, 1]],
    ];
    for (const [ba, bb] of cases) {
      for (const ta of [false, true]) {
        for (const tb of [false, true]) {
          const m = int(1, 9);
          const k = int(1, 17);
          const n = int(1, 11);
          const a = randn([...ba, ...(ta ? [k, m] : [m, k])]);
          const b = randn([...bb, ...(tb ? [n, k] : [k, n])]);
          const f = ba.length && bb.length && ba.length === bb.length && ba.every((d, i) => d === bb[i]) ? withGrads((x, y) => tf.matMul(x, y, ta, tb)) : (x: tf.Tensor, y: tf.Tensor) => tf.matMul(x, y, ta, tb);
          await matchesCpu([a, b], f, `matMul ${a.shape} ${b.shape} ${ta} ${tb}`);
        }
      }
    }
  });

  it('BatchMatMul broadcasting both batch dims matches explicit tiling', async () => {
    const a = randn([2, 1, 3, 5]);
    const b = randn([1, 4, 5, 7]);
    await tf.setBackend('wasm');
    const native = tf.matMul(a, b);
    const tiled = tf.matMul(tf.tile(a, [1, 4, 1, 1]).reshape([8, 3, 5]), tf.tile(b, [2, 1, 1, 1]).reshape([8, 5, 7]));
    expect(native.shape).toEqual([2, 4, 3, 7]);
    const d = tf.max(tf.abs(tf.sub(native.reshape([8, 3, 7]), tiled))).dataSync()[0];
    expect(d).toBeLessThan(1e-5);
    tf.dispose([a, b, native, tiled]);
  });

  it('_FusedMatMul: bias and each activation, forward and gradient', async () => {
    for (const activation of ['linear', 'relu', 'relu6', 'elu', 'sigmoid', 'leakyrelu'] as const) {
      for (const [ta, tb] of [[false, false], [true, false], [false, true]]) {
        const m = int(2, 9);
        const k = int(2, 13);
        const n = int(2, 10);
        const a = randn(ta ? [k, m] : [m, k]);
        const b = randn(tb ? [n, k] : [k, n]);
        const bias = randn([n]);
        const f = (x: tf.Tensor, y: tf.Tensor, z: tf.Tensor) =>
          tf.fused.matMul({ a: x as tf.Tensor2D, b: y as tf.Tensor2D, bias: z, transposeA: ta, transposeB: tb, activation, leakyreluAlpha: 0.1 });
        await matchesCpu([a, b, bias], activation === 'linear' || activation === 'relu' || activation === 'elu' ? withGrads(f) : f, `fused ${activation} ${ta} ${tb}`);
      }
    }
    await matchesCpu([randn([3, 4]), randn([4, 5]), randn([1])], (x, y, z) => tf.fused.matMul({ a: x as tf.Tensor2D, b: y as tf.Tensor2D, bias: z }), 'fused scalar bias');
  });

  it('Transpose: random permutations of ranks 1–6, float32 and int32, forward and gradient', async () => {
    for (let rank = 1; rank <= 6; rank++) {
      for (let trial = 0; trial < 3; trial++) {
        const shape = Array.from({ length: rank }, () => int(1, rank > 4 ? 4 : 7));
        const perm = [...Array(rank).keys()].sort(() => rand() - 0.5);
        await matchesCpu([randn(shape)], withGrads((x) => tf.transpose(x, perm)), `transpose ${shape} ${perm}`);
        await matchesCpu([tf.randomUniform(shape, -50, 50, 'int32', seed++)], (x) => tf.transpose(x, perm), `transpose int32 ${shape} ${perm}`);
      }
    }
    await matchesCpu([randn([70, 33])], (x) => tf.transpose(x), 'transpose beyond one block');
  });

  it('binary ops with broadcasting, forward and gradient', async () => {
    const pairs: Array<[number[], number[]]> = [
      [[3, 4], [3, 4]],
      [[3, 4], [4]],
      [[3, 4], [3, 1]],
      [[2, 3, 5], [1]],
      [[1], [2, 3, 5]],
      [[2, 1, 5], [1, 3, 1]],
      [[4, 1, 3, 1], [5, 1, 6]],
      [[], [3]],
    ];
    const ops: Record<string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor> = {
      add: tf.add,
      sub: tf.sub,
      mul: tf.mul,
      div: (a, b) => tf.div(a, tf.add(tf.abs(b), 0.5)),
      squaredDifference: tf.squaredDifference,
      maximum: tf.maximum,
      minimum: tf.minimum,
    };
    for (const [name, op] of Object.entries(ops)) {
      for (const [sa, sb] of pairs) {
        // tfjs's SquaredDifference, Maximum and Minimum gradients do not reduce broadcast dims (on any backend).
        const grad = !['squaredDifference', 'maximum', 'minimum'].includes(name) || sa.join() === sb.join();
        await matchesCpu([randn(sa), randn(sb)], grad ? withGrads(op) : op, `${name} ${sa} ${sb}`);
      }
    }
    await matchesCpu([tf.tensor1d([1, 2, 3], 'int32'), tf.tensor1d([4, 5, 6], 'int32')], (a, b) => tf.add(a, b), 'int32 add falls back');
  });

  it('unary ops, forward and gradient', async () => {
    const x = () => randn([int(1, 40), int(1, 30)]);
    const positive = () => tf.add(tf.abs(randn([int(1, 40), 7])), 0.1);
    await matchesCpu([tf.linspace(-6, 6, 301)], withGrads(tf.erf), 'erf over its range');
    await matchesCpu([x()], withGrads(tf.erf), 'erf');
    await matchesCpu([tf.linspace(-100, 88, 377)], tf.exp, 'exp over its range');
    await matchesCpu([x()], withGrads(tf.exp), 'exp');
    await matchesCpu([positive()], withGrads(tf.sqrt), 'sqrt');
    await matchesCpu([positive()], withGrads(tf.rsqrt), 'rsqrt');
    await matchesCpu([positive()], withGrads(tf.reciprocal), 'reciprocal');
  });

  it('reductions over any axes, keepDims, forward and gradient', async () => {
    const shapes = [[7], [3, 5], [4, 3, 5], [2, 3, 4, 5], [1, 6, 1, 3]];
    for (const shape of shapes) {
      const axesSets: Array<number | number[] | undefined> = [undefined, 0, -1, ...(shape.length > 2 ? [[0, 2], [1], [0, 1]] : [])];
      for (const axis of axesSets) {
        for (const keepDims of [false, true]) {
          await matchesCpu([randn(shape)], withGrads((x) => tf.sum(x, axis, keepDims)), `sum ${shape} ${axis} ${keepDims}`);
          await matchesCpu([randn(shape)], withGrads((x) => tf.mean(x, axis, keepDims)), `mean ${shape} ${axis} ${keepDims}`);
          await matchesCpu([randn(shape)], withGrads((x) => tf.max(x, axis, keepDims)), `max ${shape} ${axis} ${keepDims}`);
        }
      }
    }
    await matchesCpu([randn([300, 257])], (x) => [tf.sum(x, 0), tf.sum(x, 1), tf.mean(x)], 'long reductions');
  });

  it('Conv2D and both its gradients: kernel sizes, strides, padding, dilation, 1×1', async () => {
    const cases: Array<{ k: number; s: number; pad: 'same' | 'valid' | number; d?: number; cin: number; cout: number; hw: [number, number] }> = [
      { k: 3, s: 1, pad: 'same', cin: 3, cout: 4, hw: [7, 6] },
      { k: 3, s: 2, pad: 'same', cin: 2, cout: 5, hw: [9, 8] },
      { k: 7, s: 2, pad: 'same', cin: 3, cout: 4, hw: [12, 11] },
      { k: 1, s: 1, pad: 'valid', cin: 5, cout: 3, hw: [4, 5] },
      { k: 1, s: 2, pad: 'valid', cin: 4, cout: 6, hw: [7, 7] },
      { k: 2, s: 1, pad: 'valid', cin: 3, cout: 2, hw: [5, 6] },
      { k: 3, s: 1, pad: 1, cin: 2, cout: 3, hw: [5, 5] },
      { k: 3, s: 1, pad: 'same', d: 2, cin: 2, cout: 3, hw: [8, 7] },
    ];
    for (const c of cases) {
      const x = randn([2, ...c.hw, c.cin]);
      const w = randn([c.k, c.k, c.cin, c.cout]);
      const f = (xx: tf.Tensor, ww: tf.Tensor) => tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, c.s, c.pad, 'NHWC', c.d ?? 1);
      await matchesCpu([x, w], c.d ? f : withGrads(f), `conv2d ${JSON.stringify(c)}`);
    }
    const chunked = (xx: tf.Tensor, ww: tf.Tensor) => tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, 1, 'same');
    await matchesCpu([randn([1, 24, 24, 64]), tf.mul(randn([3, 3, 64, 2]), 0.1)], withGrads(chunked), 'conv2d over several im2col chunks');
  });

  it('MaxPoolGrad: window sizes, strides, padding, ties', async () => {
    for (const [k, st, pad] of [[3, 2, 'same'], [2, 2, 'valid'], [3, 1, 'same'], [3, 2, 1]] as Array<[number, number, 'same' | 'valid' | number]>) {
      await matchesCpu([randn([2, 9, 8, 3])], withGrads((x) => tf.maxPool(x as tf.Tensor4D, k, st, pad)), `maxPool ${k} ${st} ${pad}`);
    }
    await matchesCpu([tf.round(tf.mul(randn([1, 6, 6, 2]), 1.5))], withGrads((x) => tf.maxPool(x as tf.Tensor4D, 3, 1, 'same')), 'maxPool with ties');
  });

  it('Unpack along each axis, float32 and int32, forward and gradient', async () => {
    for (const axis of [0, 1, 2, -1]) {
      await matchesCpu([randn([3, 4, 5])], withGrads((x) => tf.stack(tf.unstack(x, axis).map((t, i) => tf.mul(t, i + 1)))), `unstack ${axis}`);
      await matchesCpu([tf.randomUniform([3, 4, 5], -9, 9, 'int32', seed++)], (x) => tf.unstack(x, axis), `unstack int32 ${axis}`);
    }
  });

  it("names the vector extension its kernels were compiled for: the host CPU's widest (-march=native), as run-info.json names it", () => {
    const compiledFor = status.addon!.info().vectorExtension;
    const host = hostVectorExtension();
    if (host) expect(compiledFor).toBe(host);
    else expect(compiledFor).toMatch(/^(AVX-512|AVX2|AVX|SSE4\.2|SSE2|NEON|scalar)$/);
  });

  it('splits large element-wise ops and matmuls between 2 threads with the same results', async () => {
    const threads = status.addon!.info().threads;
    status.addon!.setThreads(2);
    try {
      for (const [sa, sb] of [[[300, 257], [300, 257]], [[300, 257], [257]], [[4, 300, 1, 70], [1, 1, 9, 70]], [[90000], [1]]] as Array<[number[], number[]]>) {
        await matchesCpu([randn(sa), randn(sb)], (a, b) => [tf.mul(a, b), tf.sub(a, b), tf.erf(a), tf.exp(b)], `2 threads ${sa} ${sb}`);
      }
      await matchesCpu([randn([300, 257])], (a) => [gelu(a), softmax(a), layerNorm(a, tf.onesLike(a), tf.zerosLike(a), 1e-5)], '2 threads fused ops');
      await matchesCpu([randn([3, 130, 70]), randn([3, 70, 90])], withGrads((a, b) => tf.matMul(a, b)), '2 threads matMul');
      // One product split by rows (tall) and by columns (wide), with each transpose flag.
      for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
        const tall = [ta ? [90, 203] : [203, 90], tb ? [70, 90] : [90, 70]];
        const wide = [ta ? [300, 9] : [9, 300], tb ? [411, 300] : [300, 411]];
        for (const [sa, sb] of [tall, wide]) await matchesCpu([randn(sa), randn(sb)], withGrads((a, b) => tf.matMul(a, b, ta, tb)), `2 threads matMul ${sa} ${sb} ${ta} ${tb}`);
      }
      // Convolutions: output rows, images and filter-gradient copies split between the threads.
      for (const [k, s, cin, cout] of [[3, 1, 16, 8], [3, 2, 16, 8], [1, 1, 32, 32]]) {
        const f = (x: tf.Tensor, w: tf.Tensor) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, s, 'same');
        await matchesCpu([randn([3, 11, 10, cin]), tf.mul(randn([k, k, cin, cout]), 0.2)], withGrads(f), `2 threads conv2d k${k} s${s}`);
      }
    } finally {
      status.addon!.setThreads(threads);
    }
  });

  it('identity and same-dtype casts share data without leaking', async () => {
    await matchesCpu([randn([3, 4])], withGrads((x) => tf.clone(tf.cast(x, 'float32'))), 'identity');
    await matchesCpu([tf.tensor1d([1.7, -2.2, 3])], (x) => [tf.cast(x, 'int32'), tf.cast(tf.cast(x, 'int32'), 'float32')], 'cast changes dtype');
  });
});
