import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { GradientSums } from '../../core/src/gradientSums.js';

const batches = [0, 1, 2].map((b) => ({
  weight: Float32Array.from({ length: 12 }, (_, i) => Math.sin(7 * b + i) * 10 ** (i % 5)),
  bias: Float32Array.from({ length: 3 }, (_, i) => Math.cos(b + i)),
}));

/** The mean of the three batches' gradients through GradientSums, and what the heap held between adds. */
function meanOf(onHost: boolean): { values: Record<string, Float32Array>; heldBetweenAdds: number } {
  const sums = new GradientSums(onHost);
  const before = tf.memory().numBytes;
  let held = 0;
  for (const b of batches) {
    sums.add({ weight: tf.tensor(b.weight, [4, 3]), bias: tf.tensor(b.bias, [3]) });
    held = Math.max(held, tf.memory().numBytes - before);
  }
  expect(sums.count).toBe(3);
  const grads = sums.take(3);
  expect(sums.count).toBe(0);
  const values = { weight: grads.weight.dataSync() as Float32Array, bias: grads.bias.dataSync() as Float32Array };
  expect(grads.weight.shape).toEqual([4, 3]);
  tf.dispose(Object.values(grads));
  expect(tf.memory().numBytes).toBe(before);
  return { values, heldBetweenAdds: held };
}

describe('GradientSums', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
  });

  it('gives the same mean, to the bit, with the sums on the heap and on the host', () => {
    const heap = meanOf(false);
    const host = meanOf(true);
    expect(Array.from(host.values.weight)).toEqual(Array.from(heap.values.weight));
    expect(Array.from(host.values.bias)).toEqual(Array.from(heap.values.bias));
    const expected = batches[0].weight.map((_, i) => Math.fround(Math.fround(Math.fround(batches[0].weight[i] + batches[1].weight[i]) + batches[2].weight[i]) / 3));
    expect(Array.from(host.values.weight)).toEqual(Array.from(expected));
  });

  it('holds one copy of the gradients on the heap, or none with the sums on the host', () => {
    expect(meanOf(false).heldBetweenAdds).toBe(4 * 15);
    expect(meanOf(true).heldBetweenAdds).toBe(0);
  });

  it('clear drops a partial sum without leaking', () => {
    for (const onHost of [false, true]) {
      const sums = new GradientSums(onHost);
      const before = tf.memory().numTensors;
      sums.add({ weight: tf.ones([2, 2]) });
      sums.clear();
      expect(sums.count).toBe(0);
      expect(tf.memory().numTensors).toBe(before);
      expect(Object.keys(sums.take(1))).toEqual([]);
    }
  });
});
