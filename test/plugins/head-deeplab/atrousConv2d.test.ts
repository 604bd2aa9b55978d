import * as tf from '@tensorflow/tfjs';
import { Conv2d } from '@bt-platform/sdk/nn';
import { AtrousConv2d } from '@bt-platform/plugin-head-deeplab';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Output and gradients (input, weight) of a convolution for a fixed upstream gradient. */
function run(conv: Conv2d, x: tf.Tensor4D): number[][] {
  return tf.tidy(() => {
    const dy = tf.randomNormal(conv.call(x).shape, 0, 1, 'float32', 5);
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(conv.call(x), dy)) as tf.Scalar, [conv.weight]);
    const dx = tf.grad((t) => tf.sum(tf.mul(conv.call(t as tf.Tensor4D), dy)))(x);
    return [conv.call(x), grads[conv.weight.name], dx, value].map((t) => Array.from(t.dataSync()));
  });
}

describe('AtrousConv2d', () => {
  test.each([
    [1, 1],
    [2, 2],
    [5, 5],
    [12, 12],
    [24, 24],
  ])('rate %i on a 9×7 map: the output and gradients of the SDK’s dilated Conv2d (to 1e-5)', (dilation, padding) => {
    const options = { kernel: 3, dilation, padding, bias: true, seed: 3 };
    const reference = new Conv2d(4, 6, options);
    const atrous = new AtrousConv2d(4, 6, options);
    const x = tf.randomNormal([2, 9, 7, 4], 0, 1, 'float32', 1) as tf.Tensor4D;
    const expected = run(reference, x);
    const actual = run(atrous, x);
    expected.forEach((values, k) => values.forEach((v, i) => expect(Math.abs(actual[k][i] - v)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(v)))));
    reference.dispose();
    atrous.dispose();
    x.dispose();
  });

  // DeepLabV3's rate 24 on its 28×28 map, channels in its 8:1 ratio (2048 in, 256 out).
  test('at rate 24 on a 28×28 map it holds a fraction of the space-to-batch form’s memory', async () => {
    const peak = async (conv: Conv2d) => {
      const x = tf.randomNormal([1, 28, 28, 32], 0, 1, 'float32', 1) as tf.Tensor4D;
      const profile = await tf.profile(() => {
        const { value, grads } = tf.variableGrads(() => tf.sum(conv.call(x)) as tf.Scalar, [conv.weight]);
        tf.dispose([value, ...Object.values(grads)]);
      });
      x.dispose();
      conv.dispose();
      return profile.peakBytes;
    };
    const options = { kernel: 3, dilation: 24, padding: 24, bias: false, seed: 3 };
    expect(await peak(new AtrousConv2d(32, 4, options))).toBeLessThan((await peak(new Conv2d(32, 4, options))) / 2);
  });
});
