import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { AdamW, adamWOptions, Lars, larsOptions, Sgd, sgdOptions } from '@bt-platform/plugin-optim';
import type { Optimizer } from '@bt-platform/sdk';

const make: Record<string, () => Optimizer> = {
  adamw: () => new AdamW(adamWOptions.parse({ lr: 1e-2 })),
  lars: () => new Lars(larsOptions.parse({ lr: 0.1, weightDecay: 1e-4 })),
  sgd: () => new Sgd(sgdOptions.parse({ lr: 0.1, momentum: 0.9 })),
};

const shapes: Record<string, number[]> = { 'fc.weight': [32, 16], 'fc.bias': [16], 'head.weight': [16, 4] };
const values = (shape: number[], seed: number) => Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(seed * 31 + i * 0.37));

/** Three steps on fresh variables; returns the final values, the state and the heap bytes held between steps. */
function train(optimizer: Optimizer, onHost: boolean) {
  if (onHost) optimizer.keepStateOnHost!();
  const variables = Object.fromEntries(Object.entries(shapes).map(([name, shape], i) => [name, tf.variable(tf.tensor(values(shape, i), shape))]));
  const heldBefore = tf.memory().numBytes;
  let tensorsAfterFirst = 0;
  let heldBetweenSteps = 0;
  for (let step = 0; step < 3; step++) {
    const grads = Object.fromEntries(Object.entries(shapes).map(([name, shape], i) => [name, tf.tensor(values(shape, 10 * step + i + 5), shape)]));
    optimizer.step(variables, grads, 0.1);
    tf.dispose(Object.values(grads));
    heldBetweenSteps = tf.memory().numBytes - heldBefore;
    if (step === 0) tensorsAfterFirst = tf.memory().numTensors;
    else expect(tf.memory().numTensors).toBe(tensorsAfterFirst);
  }
  const result = Object.fromEntries(Object.entries(variables).map(([name, v]) => [name, Array.from(v.dataSync())]));
  const state = optimizer.state();
  tf.dispose(Object.values(variables));
  return { result, state, heldBetweenSteps };
}

describe('optimizer state kept on the host (a capped heap)', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
  });

  it.each(Object.keys(make))('%s: the same updates and state to the bit, and none of the state on the heap between steps', (kind) => {
    const onHeap = make[kind]();
    const onHost = make[kind]();
    const heap = train(onHeap, false);
    const host = train(onHost, true);
    expect(host.result).toEqual(heap.result);
    expect(Object.keys(host.state.tensors).sort()).toEqual(Object.keys(heap.state.tensors).sort());
    for (const [key, t] of Object.entries(heap.state.tensors)) expect(Array.from(host.state.tensors[key].data)).toEqual(Array.from(t.data));
    expect(host.state.json).toEqual(heap.state.json);
    expect(heap.heldBetweenSteps).toBeGreaterThan(0);
    expect(host.heldBetweenSteps).toBe(0);
    onHeap.dispose?.();
    onHost.dispose?.();
  });

  it('a state saved on the heap loads on the host (resume) and steps on identically', () => {
    const saved = make.lars();
    const { state } = train(saved, false);
    const [a, b] = [make.lars(), make.lars()];
    a.loadState(state);
    b.keepStateOnHost!();
    b.loadState(state);
    const shape = shapes['fc.weight'];
    const [va, vb] = [tf.variable(tf.tensor(values(shape, 1), shape)), tf.variable(tf.tensor(values(shape, 1), shape))];
    const grad = tf.tensor(values(shape, 9), shape);
    a.step({ 'fc.weight': va }, { 'fc.weight': grad }, 0.1);
    b.step({ 'fc.weight': vb }, { 'fc.weight': grad }, 0.1);
    expect(Array.from(vb.dataSync())).toEqual(Array.from(va.dataSync()));
    expect(Array.from(b.state().tensors['fc.weight.mu'].data)).toEqual(Array.from(a.state().tensors['fc.weight.mu'].data));
    tf.dispose([va, vb, grad]);
    for (const o of [saved, a, b]) o.dispose?.();
  });
});
