import * as tf from '@tensorflow/tfjs';
import { Slots, type Backbone, type Head } from '@bt-platform/sdk';
import vitPlugin from '@bt-platform/plugin-backbone-vit';
import setrPlugin from '@bt-platform/plugin-head-setr';
import { SegmentationTask, segmentationOptions } from '@bt-platform/plugin-task-segmentation';
import { AdamW, adamWOptions } from '@bt-platform/plugin-optim';
import { useJsBackend } from '@bt-platform/plugin-backend-tfjs';
import { countGpuWork, useWebGpuBackend, type WebGpuBackendLike } from '@bt-platform/plugin-backend-webgpu';
import { barlowTwinsStep, type ModelSpec } from '../../../bench/backend.bench.js';
import { create, fakeContext, image } from '../../fixtures/models/modelTesting.js';

export type Step = Awaited<ReturnType<typeof barlowTwinsStep>>;

/** A tiny ViT with a SETR-PUP head, trained with cross-entropy + Dice by the platform's Adam. */
export async function segmentationStep(): Promise<Step> {
  const backbone = (await create<Backbone>(vitPlugin, Slots.backbone, 'vit', { variant: 'custom', imageSize: 16, patchSize: 4, embedDim: 16, depth: 1, heads: 2, mlpRatio: 2 }, fakeContext())).train();
  const head = (await create<Head>(setrPlugin, Slots.head, 'setr-pup', { numClasses: 3 }, fakeContext(new Map([[Slots.backbone.id, backbone]])))).train();
  const options = segmentationOptions.parse({ losses: [{ use: 'cross-entropy' }, { use: 'dice', weight: 0.5 }], trainMetrics: false });
  const task = new SegmentationTask(backbone, head, options, { numClasses: 3, ignoreIndex: 255 });
  const labels = new Int32Array(4 * 16 * 16).map((_, i) => (i % 7 === 0 ? 255 : (i >> 3) % 3));
  const batch = { image: image(4, 16, 16), mask: tf.tensor3d(labels, [4, 16, 16], 'int32') };
  const optimizer = new AdamW(adamWOptions.parse({ lr: 1e-3, weightDecay: 0 }), 'adam');
  const parameters = task.model.trainableVariables();
  const vars = Object.values(parameters);
  const byName = Object.fromEntries(vars.map((v) => [v.name, v]));
  return {
    parameters,
    step: () => {
      const { value, grads } = tf.variableGrads(() => task.trainingStep(batch, { epoch: 0, batchIdx: 0, globalStep: 0, training: true }).loss, vars);
      optimizer.step(byName, grads, 1e-3);
      const loss = value.dataSync()[0];
      tf.dispose([value, ...Object.values(grads)]);
      return loss;
    },
    dispose: () => {
      optimizer.dispose();
      tf.dispose(Object.values(batch));
      task.model.dispose();
    },
  };
}

export interface Trace {
  losses: number[];
  parameters: Record<string, Float32Array>;
  /** Live tensors after each step after the first. */
  tensors: number[];
  /** The WebGPU backend's GPU buffers (in use, pooled) after each step after the first. */
  buffers: Array<[number, number]>;
  /** Compute pipelines (shader compilations) created by the first step, and by every later one. */
  firstPipelines: number;
  latePipelines: number;
  /** Bind groups Dawn created in each step, and dispatches in each step. */
  bindGroups: number[];
  dispatches: number[];
}

/** Runs `steps` training steps on `backend` and records what the parity and leak checks compare. */
export async function trace(backend: 'cpu' | 'webgpu', build: () => Promise<Step>, steps: number): Promise<Trace> {
  if (backend === 'webgpu') await useWebGpuBackend({ allowSoftware: true });
  else await useJsBackend('cpu');
  const counter = backend === 'webgpu' ? countGpuWork() : undefined;
  const run = await build();
  const result: Trace = { losses: [], parameters: {}, tensors: [], buffers: [], firstPipelines: 0, latePipelines: 0, bindGroups: [], dispatches: [] };
  for (let i = 0; i < steps; i++) {
    result.losses.push(run.step());
    const work = counter?.snapshot();
    const pipelines = Object.values(work?.pipelines ?? {}).reduce((a, b) => a + b, 0);
    result.bindGroups.push(work?.bindGroups ?? 0);
    result.dispatches.push(work?.dispatches ?? 0);
    if (i === 0) result.firstPipelines = pipelines;
    if (i >= 1) result.latePipelines += pipelines;
    if (i === 0) continue;
    result.tensors.push(tf.memory().numTensors);
    const manager = backend === 'webgpu' ? (tf.backend() as WebGpuBackendLike).bufferManager : undefined;
    result.buffers.push(manager ? [manager.numUsedBuffers, manager.numFreeBuffers] : [0, 0]);
  }
  for (const [name, v] of Object.entries(run.parameters)) result.parameters[name] = v.dataSync() as Float32Array;
  run.dispose();
  return result;
}

export const families: Record<string, () => Promise<Step>> = {
  'tiny ViT, Barlow Twins': () =>
    barlowTwinsStep({
      title: 'tiny ViT',
      backbone: { plugin: 'vit', component: 'vit', options: { variant: 'custom', imageSize: 12, patchSize: 4, embedDim: 24, depth: 2, heads: 2 } },
      image: 12,
      batch: 5,
      projector: 32,
    } satisfies ModelSpec),
  'narrow ResNet-18, Barlow Twins': () =>
    barlowTwinsStep({
      title: 'narrow ResNet-18',
      backbone: { plugin: 'resnet', component: 'resnet18', options: { baseWidth: 2 } },
      image: 32,
      batch: 8,
      projector: 32,
    } satisfies ModelSpec),
  'tiny ViT + SETR-PUP, segmentation': segmentationStep,
};
