import * as tf from '@tensorflow/tfjs';
import { Conv2d } from '@bt-platform/sdk/nn';
import { image } from '../fixtures/models/modelTesting.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** The kernel with d−1 zeros between taps: a plain convolution with it equals the dilated one. */
function zeroStuffed(w: tf.Tensor4D, d: number): tf.Tensor4D {
  const [k, , cin, cout] = w.shape;
  const size = d * (k - 1) + 1;
  const data = new Float32Array(size * size * cin * cout);
  const src = w.dataSync();
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) data.set(src.subarray((i * k + j) * cin * cout, (i * k + j + 1) * cin * cout), (i * d * size + j * d) * cin * cout);
  return tf.tensor4d(data, [size, size, cin, cout]);
}

/** Both trainable paths of a dilated convolution (space-to-batch, and the centre tap when the dilation exceeds the input) against the zero-stuffed equivalent, values and gradients. */
test.each([
  [2, 7],
  [3, 8],
  [4, 5],
  [12, 6],
])('dilation %i on a %i×%i input: output, input gradient and weight gradient', (d, size) => {
  const conv = new Conv2d(3, 4, { kernel: 3, padding: d, dilation: d, seed: 3 });
  const x = image(2, size, size);
  const reference = (input: tf.Tensor4D, w: tf.Tensor4D) => tf.add(tf.conv2d(input, zeroStuffed(w, d), 1, [[0, 0], [d, d], [d, d], [0, 0]]), conv.bias!) as tf.Tensor4D;
  const before = tf.memory().numTensors;
  tf.tidy(() => {
    const y = conv.call(x);
    const expected = reference(x, conv.weight as tf.Tensor4D);
    expect(y.shape).toEqual([2, size, size, 4]);
    expect(tf.max(tf.abs(tf.sub(y, expected))).dataSync()[0]).toBeLessThan(1e-5);
    const probe = tf.randomNormal([2, size, size, 4], 0, 1, 'float32', 5);
    const loss = (f: () => tf.Tensor) => tf.sum(tf.mul(f(), probe)) as tf.Scalar;
    const gx = tf.grad((input: tf.Tensor) => loss(() => conv.call(input as tf.Tensor4D)))(x);
    const gxRef = tf.grad((input: tf.Tensor) => loss(() => reference(input as tf.Tensor4D, conv.weight as tf.Tensor4D)))(x);
    expect(tf.max(tf.abs(tf.sub(gx, gxRef))).dataSync()[0]).toBeLessThan(1e-4);
    const gw = tf.variableGrads(() => loss(() => conv.call(x)), [conv.weight]).grads[conv.weight.name];
    // Gradient of the zero-stuffed kernel, read at the taps.
    const stuffed = tf.variable(zeroStuffed(conv.weight as tf.Tensor4D, d));
    const gs = tf.variableGrads(() => loss(() => tf.add(tf.conv2d(x, stuffed as tf.Tensor4D, 1, [[0, 0], [d, d], [d, d], [0, 0]]), conv.bias!)), [stuffed]).grads[stuffed.name];
    const taps = tf.stridedSlice(gs, [0, 0, 0, 0], gs.shape, [d, d, 1, 1]);
    expect(tf.max(tf.abs(tf.sub(gw, taps))).dataSync()[0]).toBeLessThan(1e-3 * Math.max(1, tf.max(tf.abs(taps)).dataSync()[0]));
    stuffed.dispose();
  });
  expect(tf.memory().numTensors).toBe(before);
  x.dispose();
  conv.dispose();
});
