import * as tf from '@tensorflow/tfjs';
import { attention, attentionProbabilities, FusedKernel } from '@bt-platform/sdk/nn';

// The composite path (no backend kernel registered) against tfjs autodiff of attention written head by head.
const seeded = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 1, 'float32', seed);

function expectClose(actual: tf.Tensor, expected: tf.Tensor, tolerance = 1e-5): void {
  expect(actual.shape).toEqual(expected.shape);
  const scale = Math.max(1, tf.max(tf.abs(expected)).dataSync()[0]);
  expect(tf.max(tf.abs(tf.sub(actual, expected))).dataSync()[0] / scale).toBeLessThan(tolerance);
}

/** Each head's columns sliced out of qkv, softmax(q·kᵀ·scale)·v, the heads concatenated. */
function textbook(qkv: tf.Tensor3D, heads: number, scale: number): { out: tf.Tensor; probs: tf.Tensor[] } {
  const [b, n, d3] = qkv.shape;
  const d = d3 / 3;
  const hd = d / heads;
  const outs: tf.Tensor[] = [];
  const probs: tf.Tensor[] = [];
  for (let h = 0; h < heads; h++) {
    const part = (i: number) => tf.slice(qkv, [0, 0, i * d + h * hd], [b, n, hd]);
    const p = tf.softmax(tf.mul(tf.matMul(part(0), part(1), false, true), scale));
    probs.push(p);
    outs.push(tf.matMul(p, part(2)));
  }
  return { out: tf.concat(outs, -1), probs };
}

describe('attention, composite path', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
    expect(tf.getKernel(FusedKernel.attention, 'cpu')).toBeUndefined();
  });

  test.each([
    [1, 1, 4, 1],
    [2, 5, 3, 4],
    [3, 17, 2, 8],
  ])('B=%i N=%i heads=%i head dim=%i: value, probabilities and gradient', (b, n, heads, hd) => {
    const d = heads * hd;
    const scale = hd ** -0.5;
    const [qkv, w] = [tf.mul(seeded([b, n, 3 * d], 1), 2) as tf.Tensor3D, seeded([b, n, d], 2)];
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const expected = textbook(qkv, heads, scale);
      expectClose(attention(qkv, heads, scale), expected.out);
      const probs = tf.reshape(attentionProbabilities(qkv, heads, scale), [b, heads, n, n]);
      expectClose(probs, tf.stack(expected.probs, 1));
      const ours = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(attention(x as tf.Tensor3D, heads, scale), w)))(qkv);
      const reference = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(textbook(x as tf.Tensor3D, heads, scale).out, w)))(qkv);
      expectClose(ours, reference);
    });
    expect(tf.memory().numTensors).toBe(before);
  });
});
