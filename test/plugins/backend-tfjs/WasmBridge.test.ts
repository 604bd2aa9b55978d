import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { installWasmBridge, missingWasmKernels } from '@bt-platform/plugin-backend-tfjs';

/** Runs `f` on `backend` with copies of `inputs`, returning plain arrays. */
async function runOn(backend: string, inputs: tf.Tensor[], f: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const copies = inputs.map((x) => tf.tensor(x.dataSync(), x.shape, x.dtype));
  const before = tf.memory().numTensors;
  const outs = tf.tidy(() => {
    const r = f(...copies);
    return Array.isArray(r) ? r : [r];
  });
  const values = outs.map((o) => o.dataSync() as Float32Array);
  tf.dispose(outs);
  expect(tf.memory().numTensors).toBe(before);
  tf.dispose(copies);
  return values;
}

function expectClose(actual: Float32Array[], expected: Float32Array[]): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((a, i) => {
    const e = expected[i];
    expect(a.length).toBe(e.length);
    const scale = Math.max(1, ...Array.from(e, Math.abs));
    for (let j = 0; j < e.length; j++) expect(Math.abs(a[j] - e[j]) / scale).toBeLessThan(1e-5);
  });
}

async function sameOnBoth(inputs: tf.Tensor[], f: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[]): Promise<void> {
  const cpu = await runOn('cpu', inputs, f);
  const wasm = await runOn('wasm', inputs, f);
  expectClose(wasm, cpu);
}

describe('wasm bridge', () => {
  let bridged: string[] = [];
  beforeAll(async () => {
    await tf.setBackend('cpu');
    expect(missingWasmKernels()).toEqual(expect.arrayContaining(['Conv2DBackpropFilter', 'UnsortedSegmentSum', 'Einsum', 'DepthwiseConv2dNativeBackpropFilter']));
    bridged = installWasmBridge();
    await tf.setBackend('wasm');
  });

  it('leaves no kernel of cpu missing on wasm', () => {
    expect(missingWasmKernels()).toEqual([]);
    expect(bridged).toEqual(expect.arrayContaining(['Conv2DBackpropFilter', 'UnsortedSegmentSum']));
    expect(installWasmBridge()).toEqual(bridged);
  });

  it('shares data on Identity and same-dtype Cast instead of copying, and copies on a dtype change', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor1d([1.5, -2.25, 3]);
    const before = tf.memory().numTensors;
    const [same, cast] = [tf.clone(x), tf.cast(x, 'float32')];
    expect([same.dataId, cast.dataId]).toEqual([x.dataId, x.dataId]);
    const converted = tf.cast(x, 'int32');
    expect(converted.dataId).not.toBe(x.dataId);
    expect(Array.from(converted.dataSync())).toEqual([1, -2, 3]);
    x.dispose();
    expect(Array.from(same.dataSync())).toEqual([1.5, -2.25, 3]);
    tf.dispose([same, cast, converted]);
    expect(tf.memory().numTensors).toBe(before - 1);
  });

  it('computes conv2d gradients (filter and input) as cpu does', async () => {
    const x = tf.randomNormal([2, 7, 6, 3], 0, 1, 'float32', 1);
    const w = tf.randomNormal([3, 3, 3, 4], 0, 1, 'float32', 2);
    const loss = (xx: tf.Tensor, ww: tf.Tensor) => tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, [2, 1], 'same').square().sum() as tf.Scalar;
    await sameOnBoth([x, w], (xx, ww) => tf.grads(loss)([xx, ww]));
    tf.dispose([x, w]);
  });

  it('computes depthwise conv2d gradients as cpu does', async () => {
    const x = tf.randomNormal([2, 5, 5, 3], 0, 1, 'float32', 3);
    const w = tf.randomNormal([3, 3, 3, 2], 0, 1, 'float32', 4);
    const loss = (xx: tf.Tensor, ww: tf.Tensor) => tf.depthwiseConv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, 1, 'valid').square().sum() as tf.Scalar;
    await sameOnBoth([x, w], (xx, ww) => tf.grads(loss)([xx, ww]));
    tf.dispose([x, w]);
  });

  it('computes the gradient of gather (UnsortedSegmentSum) and einsum as cpu does', async () => {
    const table = tf.randomNormal([6, 4], 0, 1, 'float32', 5);
    const idx = tf.tensor1d([0, 3, 3, 5, 1, 3], 'int32');
    await sameOnBoth([table, idx], (t, i) => tf.grad((tt: tf.Tensor) => tf.gather(tt, i).mul(tf.range(1, 7).reshape([6, 1])).sum())(t));
    await sameOnBoth([table, table], (a, b) => tf.einsum('ij,kj->ik', a, b));
    tf.dispose([table, idx]);
  });

  it('runs complex kernels (FFT) through the bridge', async () => {
    const re = tf.tensor1d([1, 2, 0, -1]);
    const im = tf.tensor1d([0, 1, 3, 2]);
    await sameOnBoth([re, im], (r, i) => {
      const f = tf.spectral.fft(tf.complex(r, i));
      return [tf.real(f), tf.imag(f), tf.abs(f)];
    });
    tf.dispose([re, im]);
  });

  it('trains a small conv net with an embedding one step on wasm as on cpu, without leaking', async () => {
    const images = tf.randomUniform([2, 8, 8, 3], 0, 1, 'float32', 6);
    const ids = tf.tensor1d([1, 4], 'int32');
    const init = [tf.randomNormal([3, 3, 3, 4], 0, 0.3, 'float32', 7), tf.randomNormal([5, 4], 0, 0.3, 'float32', 8)];
    const step = async (backend: string) => {
      await tf.setBackend(backend);
      const [kernel, table] = init.map((t) => tf.variable(tf.tensor(t.dataSync(), t.shape)));
      const x = tf.tensor(images.dataSync(), images.shape);
      const i = tf.tensor(ids.dataSync(), ids.shape, 'int32');
      const before = tf.memory().numTensors;
      const optimizer = tf.train.sgd(0.1);
      const f = () => {
        const features = tf.conv2d(x as tf.Tensor4D, kernel as tf.Variable<tf.Rank.R4>, 1, 'same').relu().mean([1, 2]);
        return tf.losses.meanSquaredError(tf.gather(table, i), features) as tf.Scalar;
      };
      const loss = optimizer.minimize(f, true, [kernel, table])!;
      const after = tf.tidy(f);
      const result = [loss.dataSync()[0], after.dataSync()[0], ...kernel.dataSync(), ...table.dataSync()];
      tf.dispose([loss, after]);
      optimizer.dispose();
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([kernel, table, x, i]);
      return Float32Array.from(result);
    };
    const cpu = await step('cpu');
    const wasm = await step('wasm');
    expect(wasm[1]).toBeLessThan(wasm[0]);
    expectClose([wasm], [cpu]);
    tf.dispose([images, ids, ...init]);
  });

  it('multiplies transposed matrices (through XNNPACK) and batched ones (SIMD kernel) as cpu does, and frees its copies', async () => {
    const r = (shape: number[], seed: number) => tf.randomUniform(shape, -1, 1, 'float32', seed);
    const cases: Array<[number[], number[], boolean, boolean]> = [
      [[5, 7], [5, 3], true, false],
      [[7, 5], [3, 5], false, true],
      [[5, 7], [3, 5], true, true],
      [[1, 6, 4], [1, 9, 4], false, true],
      [[3, 6, 4], [3, 9, 4], false, true],
      [[3, 4, 6], [1, 4, 9], true, false],
      [[4, 5, 3], [4, 5, 2], true, false],
      [[4, 3, 5], [4, 5, 2], false, false],
      [[4, 5, 3], [4, 2, 5], true, true],
      // Batched: column tiles of 16 and 4 and single columns, broadcast batches, rank 4, empty k.
      [[6, 65, 16], [6, 65, 16], false, true],
      [[6, 65, 65], [6, 65, 16], false, false],
      [[6, 65, 65], [6, 65, 16], true, false],
      [[2, 3, 9, 37], [2, 3, 37, 23], false, false],
      [[1, 9, 37], [3, 21, 37], false, true],
      [[3, 37, 9], [1, 37, 21], true, false],
      [[3, 0, 5], [3, 0, 7], true, false],
      [[2, 1, 1], [2, 1, 1], false, false],
    ];
    for (const [i, [shapeA, shapeB, transposeA, transposeB]] of cases.entries()) {
      const [a, b] = [r(shapeA, 2 * i + 1), r(shapeB, 2 * i + 2)];
      const product = (x: tf.Tensor, y: tf.Tensor) => tf.matMul(x, y, transposeA, transposeB);
      const cpu = await runOn('cpu', [a, b], product);
      await tf.setBackend('wasm');
      const dataIds = (tf.backend() as unknown as { numDataIds(): number }).numDataIds();
      const wasm = await runOn('wasm', [a, b], product);
      expect((tf.backend() as unknown as { numDataIds(): number }).numDataIds()).toBe(dataIds);
      expectClose(wasm, cpu);
      tf.dispose([a, b]);
    }
  });
});
