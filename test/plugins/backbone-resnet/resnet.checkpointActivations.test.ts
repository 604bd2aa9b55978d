import * as tf from '@tensorflow/tfjs';
import { Slots } from '@bt-platform/sdk';
import type { Backbone } from '@bt-platform/sdk';
import resnetPlugin from '@bt-platform/plugin-backbone-resnet';
import { resetWasmHeapPeak, useJsBackend, wasmHeapUsage } from '@bt-platform/plugin-backend-tfjs';
import { create, fakeContext, image } from '../../fixtures/models/modelTesting.js';

async function resnet(name: string, checkpointActivations: boolean | 'auto', options: Record<string, unknown> = {}): Promise<Backbone> {
  return create(resnetPlugin, Slots.backbone, name, { baseWidth: 4, ...options, checkpointActivations }, fakeContext());
}

function gradients(model: Backbone, x: tf.Tensor4D): Record<string, Float32Array> {
  const variables = model.trainableVariables();
  const names = new Map(Object.entries(variables).map(([name, v]) => [v.name, name]));
  const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(model.call(x).featureMap)) as tf.Scalar, Object.values(variables));
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

const buffers = (model: Backbone) => Object.fromEntries(Object.entries(model.stateDict()).filter(([k]) => /running_|num_batches/.test(k)).map(([k, v]) => [k, Array.from(v.data)]));

describe('resnet checkpointActivations', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  test.each(['resnet18', 'resnet50'])('%s: recomputing gives the same gradients (1e-5) and moves BatchNorm statistics once', async (name) => {
    const plain = await resnet(name, false, name === 'resnet50' ? { dilated: true } : {});
    const recomputed = await resnet(name, true, name === 'resnet50' ? { dilated: true } : {});
    const x = image(2, 32, 32);
    expect(worstDifference(gradients(plain, x), gradients(recomputed, x))).toBeLessThanOrEqual(1e-5);
    expect(buffers(recomputed)).toEqual(buffers(plain));
    expect(buffers(recomputed)['layer1.0.bn1.num_batches_tracked']).toEqual([1]);
    plain.dispose();
    recomputed.dispose();
    x.dispose();
  });

  test('block and stage hooks fire once per forward with the outputs the model goes on with; no tensor left behind', async () => {
    const model = await resnet('resnet18', true);
    const x = image(2, 32, 32);
    const seen: string[] = [];
    let stageOutput: tf.Tensor | undefined;
    let nextInput: tf.Tensor | undefined;
    for (const path of ['conv1', 'layer1.0.conv1', 'layer1.1', 'layer2']) model.getModule(path).forwardHook.tap('test', (e) => void seen.push(e.name));
    model.getModule('layer1').forwardHook.tap('test', (e) => void (stageOutput = e.output as tf.Tensor));
    model.getModule('layer2.0').forwardHook.tap('test', (e) => void (nextInput = e.inputs[0] as tf.Tensor));
    gradients(model, x);
    expect(seen).toEqual(['conv1', 'layer1.0.conv1', 'layer1.1', 'layer2']);
    expect(stageOutput).toBe(nextInput);
    const before = tf.memory().numTensors;
    gradients(model, x);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
    x.dispose();
  });
});

describe('resnet checkpointActivations on wasm', () => {
  beforeAll(async () => {
    await useJsBackend('wasm');
  });

  function stepPeak(model: Backbone, x: tf.Tensor4D): number {
    const before = wasmHeapUsage()!.live;
    resetWasmHeapPeak();
    gradients(model, x);
    return wasmHeapUsage()!.peak - before;
  }

  test('the estimate is of the order of the measured peak, and recomputing takes a fraction of it', async () => {
    const plain = await resnet('resnet50', false, { baseWidth: 4 });
    const recomputed = await resnet('resnet50', true, { baseWidth: 4 });
    const x = image(2, 48, 48);
    const kept = stepPeak(plain, x);
    const estimate = (plain as unknown as { estimateStepBytes(x: tf.Tensor): number }).estimateStepBytes(x);
    expect(estimate / kept).toBeGreaterThan(0.4);
    expect(estimate / kept).toBeLessThan(1.5);
    expect(stepPeak(recomputed, x)).toBeLessThan(kept / 2);
    plain.dispose();
    recomputed.dispose();
    x.dispose();
  });
});
