import * as tf from '@tensorflow/tfjs';
import { gelu } from '@bt-platform/sdk/nn';

describe('gelu', () => {
  const x = tf.tensor1d([-4, -1.5, -0.3, 0, 0.2, 1, 2.5, 6]);
  // x·Φ(x) and its derivative written with autodiff, as the reference the custom gradient must match.
  const composite = (t: tf.Tensor) => tf.mul(tf.mul(t, 0.5), tf.add(tf.erf(tf.mul(t, Math.SQRT1_2)), 1));

  test('equals x·Φ(x) and its gradient equals autodiff of the composite form', () => {
    const expected = composite(x).arraySync() as number[];
    (gelu(x).arraySync() as number[]).forEach((v, i) => expect(v).toBeCloseTo(expected[i], 6));
    // torch.nn.functional.gelu(torch.tensor([1.0])) = 0.8413447
    expect((gelu(tf.tensor1d([1])).arraySync() as number[])[0]).toBeCloseTo(0.8413447, 6);
    const dy = tf.tensor1d([1, -2, 0.5, 3, 1, 1, -1, 2]);
    const ours = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(gelu(t), dy)))(x).arraySync() as number[];
    const reference = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(composite(t), dy)))(x).arraySync() as number[];
    ours.forEach((v, i) => expect(v).toBeCloseTo(reference[i], 5));
  });

  test('a gradient step through it leaves the tensor count unchanged', () => {
    const v = tf.variable(x.clone(), true);
    const step = () => {
      const { value, grads } = tf.variableGrads(() => tf.sum(gelu(tf.mul(v, 1))) as tf.Scalar, [v]);
      value.dispose();
      tf.dispose(Object.values(grads));
    };
    step();
    const before = tf.memory().numTensors;
    step();
    expect(tf.memory().numTensors).toBe(before);
    v.dispose();
  });
});
