import * as tf from '@tensorflow/tfjs';
import { Linear } from '@bt-platform/sdk/nn';

// Linear's fused matmul + bias (tfjs's `_FusedMatMul` where a backend has it) against autodiff of x·W + b.
function expectClose(actual: tf.Tensor, expected: tf.Tensor): void {
  expect(actual.shape).toEqual(expected.shape);
  const scale = Math.max(1, tf.max(tf.abs(expected)).dataSync()[0]);
  expect(tf.max(tf.abs(tf.sub(actual, expected))).dataSync()[0] / scale).toBeLessThan(1e-5);
}

test.each([true, false])('Linear (bias: %s): value and gradients of x, weight and bias equal x·W + b and its autodiff', async (bias) => {
  await tf.setBackend('cpu');
  const layer = new Linear(6, 5, 3, bias, 'torch');
  const [x, w] = [tf.randomNormal([2, 3, 6], 0, 1, 'float32', 1), tf.randomNormal([2, 3, 5], 0, 1, 'float32', 2)];
  const before = tf.memory().numTensors;
  tf.tidy(() => {
    const textbook = (input: tf.Tensor) => {
      const y = tf.matMul(tf.reshape(input, [-1, 6]), layer.weight);
      return tf.reshape(layer.bias ? tf.add(y, layer.bias) : y, [2, 3, 5]);
    };
    expectClose(layer.call(x), textbook(x));
    const variables = layer.bias ? [layer.weight, layer.bias] : [layer.weight];
    const grads = (f: (input: tf.Tensor) => tf.Tensor) => {
      const loss = (input: tf.Tensor) => tf.sum(tf.mul(f(input), w)) as tf.Scalar;
      return [tf.grad(loss)(x), ...Object.values(tf.variableGrads(() => loss(x), variables).grads)];
    };
    const expected = grads(textbook);
    grads((input) => layer.call(input)).forEach((g, i) => expectClose(g, expected[i]));
  });
  expect(tf.memory().numTensors).toBe(before);
  layer.dispose();
  tf.dispose([x, w]);
});
