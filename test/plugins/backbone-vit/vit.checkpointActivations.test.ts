import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { Slots } from '@bt-platform/sdk';
import type { Backbone } from '@bt-platform/sdk';
import vitPlugin from '@bt-platform/plugin-backbone-vit';
import { resetWasmHeapPeak, useJsBackend, wasmHeapUsage } from '@bt-platform/plugin-backend-tfjs';
import { create, fakeContext, image } from '../../fixtures/models/modelTesting.js';

// Dropout and stochastic depth on: the recomputed forward must draw the same masks.
const tiny = { variant: 'custom', imageSize: 32, patchSize: 8, embedDim: 16, depth: 3, heads: 2, mlpRatio: 2, dropout: 0.1, attnDropout: 0.1, dropPath: 0.2 };

async function vit(checkpointActivations: boolean | 'auto', options: Record<string, unknown> = tiny): Promise<Backbone> {
  return create(vitPlugin, Slots.backbone, 'vit', { ...options, checkpointActivations }, fakeContext());
}

/** Gradients of every parameter for one training step of `model` on `x`, by name. */
function gradients(model: Backbone, x: tf.Tensor4D): Record<string, Float32Array> {
  const variables = model.trainableVariables();
  const names = new Map(Object.entries(variables).map(([name, v]) => [v.name, name]));
  const { value, grads } = tf.variableGrads(() => {
    const out = model.call(x);
    return tf.add(tf.mean(tf.square(out.tokens!)), tf.mean(out.intermediates![0])) as tf.Scalar;
  }, Object.values(variables));
  value.dispose();
  const out: Record<string, Float32Array> = {};
  for (const [id, g] of Object.entries(grads)) out[names.get(id)!] = g.dataSync() as Float32Array;
  tf.dispose(Object.values(grads));
  return out;
}

function worstDifference(a: Record<string, Float32Array>, b: Record<string, Float32Array>): number {
  expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
  return Math.max(...Object.entries(a).map(([name, values]) => Math.max(...Array.from(values, (v, i) => Math.abs(v - b[name][i])))));
}

describe('vit checkpointActivations', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  test('recomputing gives the gradients of keeping the activations, to 1e-5, two steps running', async () => {
    const plain = await vit(false);
    const recomputed = await vit(true);
    const x = image(2, 32, 32);
    for (let step = 0; step < 2; step++) expect(worstDifference(gradients(plain, x), gradients(recomputed, x))).toBeLessThanOrEqual(1e-5);
    plain.dispose();
    recomputed.dispose();
    x.dispose();
  });

  test('attention hooks fire once per training forward, and a step leaves no tensor behind', async () => {
    const model = await vit(true);
    const x = image(2, 32, 32);
    const seen: number[] = [];
    model.getModule('blocks.1.attn.probs').forwardHook.tap('test', (e) => seen.push((e.output as tf.Tensor).shape[0]));
    gradients(model, x);
    const before = tf.memory().numTensors;
    gradients(model, x);
    expect(tf.memory().numTensors).toBe(before);
    expect(seen).toEqual([2, 2]);
    model.dispose();
    x.dispose();
  });
});

describe('vit checkpointActivations on wasm', () => {
  beforeAll(async () => {
    await useJsBackend('wasm');
  });

  /** Peak bytes of tensor data in the wasm heap during one training step, above what was held before. */
  function stepPeak(model: Backbone, x: tf.Tensor4D): number {
    const before = wasmHeapUsage()!.live;
    resetWasmHeapPeak();
    gradients(model, x);
    return wasmHeapUsage()!.peak - before;
  }

  // Calibrated on the native backend (within 10 % there); plain wasm's own kernels keep about twice as much.
  test('the estimate `auto` decides on is of the order of the measured peak of a step', async () => {
    const options = { variant: 'custom', imageSize: 64, patchSize: 8, embedDim: 64, depth: 4, heads: 4, mlpRatio: 4 };
    const model = await vit(false, options);
    const x = image(8, 64, 64);
    const measured = stepPeak(model, x);
    const estimate = (model as unknown as { estimateStepBytes(x: tf.Tensor): number }).estimateStepBytes(x);
    expect(estimate / measured).toBeGreaterThan(0.4);
    expect(estimate / measured).toBeLessThan(1.5);
    model.dispose();
    x.dispose();
  });

  test('recomputing (inputs kept outside the heap) takes a fraction of the heap at the same gradients', async () => {
    const options = { variant: 'custom', imageSize: 64, patchSize: 8, embedDim: 64, depth: 4, heads: 4, mlpRatio: 4 };
    const plain = await vit(false, options);
    const recomputed = await vit(true, options);
    const x = image(8, 64, 64);
    const kept = stepPeak(plain, x);
    const peak = stepPeak(recomputed, x);
    expect(peak).toBeLessThan(kept / 3);
    expect(worstDifference(gradients(plain, x), gradients(recomputed, x))).toBeLessThanOrEqual(1e-5);
    plain.dispose();
    recomputed.dispose();
    x.dispose();
  });
});
