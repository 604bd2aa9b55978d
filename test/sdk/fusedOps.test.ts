import * as tf from '@tensorflow/tfjs';
import { BatchNorm2d, batchNormTraining, FusedKernel, layerNorm, softmax } from '@bt-platform/sdk/nn';

// The ops' composite paths (no backend kernel registered) against tfjs autodiff of the textbook forms.
const seeded = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 1, 'float32', seed);

function expectClose(actual: tf.Tensor, expected: tf.Tensor, tolerance = 1e-5): void {
  expect(actual.shape).toEqual(expected.shape);
  const scale = Math.max(1, tf.max(tf.abs(expected)).dataSync()[0]);
  expect(tf.max(tf.abs(tf.sub(actual, expected))).dataSync()[0] / scale).toBeLessThan(tolerance);
}

describe('fused ops, composite path', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
    expect(tf.getKernel(FusedKernel.layerNorm, 'cpu')).toBeUndefined();
  });

  test.each([[[4, 7]], [[2, 3, 16]], [[1, 5, 2, 9]]])('layerNorm %j: value and gradients of x, γ and β', (shape) => {
    const d = shape[shape.length - 1];
    const [x, gamma, beta, w] = [seeded(shape, 1), seeded([d], 2), seeded([d], 3), seeded(shape, 4)];
    const reference = (xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const { mean, variance } = tf.moments(xx, -1, true);
      return tf.add(tf.mul(tf.div(tf.sub(xx, mean), tf.sqrt(tf.add(variance, 1e-6))), g), b);
    };
    expectClose(layerNorm(x, gamma, beta, 1e-6), reference(x, gamma, beta));
    const loss = (f: typeof reference) => (xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(xx, g, b), w));
    const ours = tf.grads(loss((xx, g, b) => layerNorm(xx, g, b, 1e-6)))([x, gamma, beta]);
    const expected = tf.grads(loss(reference))([x, gamma, beta]);
    ours.forEach((g, i) => expectClose(g, expected[i]));
  });

  test('layerNorm matches nn.LayerNorm on a fixed row', () => {
    // torch.nn.functional.layer_norm(torch.tensor([[1., 2., 4.]]), (3,)) = [[-1.0690, -0.2673, 1.3363]]
    const y = layerNorm(tf.tensor2d([[1, 2, 4]]), tf.ones([3]), tf.zeros([3]), 1e-5);
    (y.dataSync() as Float32Array).forEach((v, i) => expect(v).toBeCloseTo([-1.069, -0.2673, 1.3363][i], 4));
  });

  test('softmax: value and gradient equal tf.softmax and its autodiff', () => {
    const [x, w] = [seeded([3, 4, 11], 5), seeded([3, 4, 11], 6)];
    expectClose(softmax(x), tf.softmax(x));
    const ours = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(softmax(t), w)))(x);
    const expected = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.softmax(t), w)))(x);
    expectClose(ours, expected);
  });

  test.each([[[6, 5]], [[2, 3, 4, 7]]])('batchNormTraining %j: value, batch statistics and gradients of x, γ and β', (shape) => {
    const c = shape[shape.length - 1];
    const axes = shape.slice(0, -1).map((_, i) => i);
    const [x, gamma, beta, w] = [tf.add(seeded(shape, 11), 3), seeded([c], 12), seeded([c], 13), seeded(shape, 14)];
    const reference = (xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const { mean, variance } = tf.moments(xx, axes);
      return tf.add(tf.mul(tf.div(tf.sub(xx, mean), tf.sqrt(tf.add(variance, 1e-5))), g), b);
    };
    const seen: tf.Tensor[] = [];
    const ours = batchNormTraining(1e-5, (mean, variance, count) => {
      expect(count).toBe(x.size / c);
      seen.push(tf.keep(tf.clone(mean)), tf.keep(tf.clone(variance)));
    });
    expectClose(ours(x, gamma, beta), reference(x, gamma, beta));
    const moments = tf.moments(x, axes);
    expectClose(seen[0], moments.mean);
    expectClose(seen[1], moments.variance);
    const loss = (f: typeof reference) => (xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(xx, g, b), w));
    const grads = tf.grads(loss(ours))([x, gamma, beta]);
    const expected = tf.grads(loss(reference))([x, gamma, beta]);
    grads.forEach((g, i) => expectClose(g, expected[i]));
    tf.dispose(seen);
  });

  test('BatchNorm2d in training moves its running statistics as PyTorch does', () => {
    const bn = new BatchNorm2d(3);
    bn.train();
    // 2 images of 1×2 pixels: channel values 1,2,3,6 (mean 3, biased var 3.5, unbiased 14/3), 0s, and 2,2,2,2.
    const x = tf.tensor4d([[[[1, 0, 2], [2, 0, 2]]], [[[3, 0, 2], [6, 0, 2]]]]);
    bn.call(x);
    expect(Array.from(bn.running_mean.dataSync())).toEqual([expect.closeTo(0.3, 6), 0, expect.closeTo(0.2, 6)]);
    expect(Array.from(bn.running_var.dataSync())).toEqual([expect.closeTo(0.9 + 0.1 * (14 / 3), 6), expect.closeTo(0.9, 6), expect.closeTo(0.9, 6)]);
    expect(bn.num_batches_tracked.dataSync()[0]).toBe(1);
    bn.dispose();
  });

  test('a gradient step through layerNorm and softmax leaves the tensor count unchanged', () => {
    const v = tf.variable(seeded([6, 8], 7));
    const gamma = tf.variable(tf.ones([8]));
    const beta = tf.variable(tf.zeros([8]));
    const step = () => {
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(softmax(layerNorm(v, gamma, beta, 1e-5)))) as tf.Scalar, [v, gamma, beta]);
      tf.dispose([value, ...Object.values(grads)]);
    };
    step();
    const before = tf.memory().numTensors;
    step();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([v, gamma, beta]);
  });
});
