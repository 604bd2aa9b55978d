import * as tf from '@tensorflow/tfjs';
import { FusedKernel, type FusedKernelName } from '@bt-platform/sdk/nn';
import { runFusedDispatch, writableInPlace } from './FusedProgram.js';
import * as wgsl from './FusedShaders.js';

type Inputs = Record<string, tf.TensorInfo>;
type Uniforms = Parameters<typeof runFusedDispatch>[1]['uniforms'];

const MAX_GROUPS = 65535;
const size = (info: tf.TensorInfo) => tf.util.sizeFromShape(info.shape);
const lastAxis = (info: tf.TensorInfo) => info.shape[info.shape.length - 1] ?? 1;
const u32 = (value: number) => ({ type: 'uint32' as const, value });
const f32 = (value: number) => ({ type: 'float32' as const, value });
const elementGroups = (n: number): [number] => [Math.min(MAX_GROUPS, Math.ceil(n / wgsl.ELEMENTWISE_THREADS))];
const rowGroups = (rows: number): [number] => [Math.min(MAX_GROUPS, rows)];

/** Row chunks of a column reduction: enough workgroups to fill a GPU, few enough to sum quickly. */
const splitsFor = (rows: number) => Math.max(1, Math.min(64, Math.ceil(rows / 1024)));

/**
 * Per-channel sums of two quantities over every row (`shader` from COLUMN_PARTIALS), then `finish`
 * turns the partial sums into the outputs: two dispatches for any number of rows.
 */
function columnReduction(backend: object, name: string, shader: string, inputs: tf.TensorInfo[], x: tf.TensorInfo, eps: number, finish: { name: string; code: string; extra: tf.TensorInfo[] }): tf.TensorInfo[] {
  const channels = lastAxis(x);
  const rows = size(x) / channels;
  const splits = splitsFor(rows);
  const uniforms: Uniforms = [u32(rows), u32(channels), u32(splits), f32(eps)];
  const [partials] = runFusedDispatch(backend, { name, code: shader, inputs, outputs: [[2, splits, channels]], uniforms, workgroups: [Math.ceil(channels / wgsl.COLUMN_TILE), splits] });
  try {
    return runFusedDispatch(backend, { name: finish.name, code: finish.code, inputs: [partials, ...finish.extra], outputs: [[channels], [channels]], uniforms, workgroups: elementGroups(channels) });
  } finally {
    (backend as tf.KernelBackend).disposeData(partials.dataId);
  }
}

/** Uniforms of the attention shaders: rows = B·heads·N, then N, heads, head dim, D, scale. */
function attentionUniforms(qkv: tf.TensorInfo, attrs: unknown): { rows: number; uniforms: Uniforms } {
  const { heads, scale } = attrs as { heads: number; scale: number };
  const [b, n, d3] = qkv.shape;
  const d = d3 / 3;
  return { rows: b * heads * n, uniforms: [u32(b * heads * n), u32(n), u32(heads), u32(d / heads), u32(d), f32(scale)] };
}

/**
 * WebGPU kernels for the SDK's fused ops (`FusedKernel`): each runs in one to three dispatches
 * where the composite ops take ten to twenty (GELU 1, its gradient 1, softmax gradient 1, layer
 * norm 1, its gradient 3, batch norm 3, its gradient 3, the Adam step 1 per parameter, attention 1, its gradient 2).
 */
export const FUSED_KERNELS: Record<FusedKernelName, tf.KernelFunc> = {
  [FusedKernel.gelu]: ({ inputs, backend }) => {
    const { x } = inputs as Inputs;
    return runFusedDispatch(backend, { name: 'BtGelu', code: wgsl.GELU, inputs: [x], outputs: [x.shape], uniforms: [u32(size(x))], workgroups: elementGroups(size(x)) })[0];
  },
  [FusedKernel.geluGrad]: ({ inputs, backend }) => {
    const { dy, x } = inputs as Inputs;
    return runFusedDispatch(backend, { name: 'BtGeluGrad', code: wgsl.GELU_GRAD, inputs: [dy, x], outputs: [x.shape], uniforms: [u32(size(x))], workgroups: elementGroups(size(x)) })[0];
  },
  [FusedKernel.softmaxGrad]: ({ inputs, backend }) => {
    const { dy, y } = inputs as Inputs;
    const cols = lastAxis(y);
    const rows = size(y) / cols;
    return runFusedDispatch(backend, { name: 'BtSoftmaxGrad', code: wgsl.SOFTMAX_GRAD, inputs: [dy, y], outputs: [y.shape], uniforms: [u32(rows), u32(cols)], workgroups: rowGroups(rows) })[0];
  },
  [FusedKernel.layerNorm]: ({ inputs, backend, attrs }) => {
    const { x, gamma, beta } = inputs as Inputs;
    const { eps } = attrs as unknown as { eps: number };
    const cols = lastAxis(x);
    const rows = size(x) / cols;
    return runFusedDispatch(backend, {
      name: 'BtLayerNorm',
      code: wgsl.LAYER_NORM,
      inputs: [x, gamma, beta],
      outputs: [x.shape, [rows], [rows]],
      uniforms: [u32(rows), u32(cols), f32(eps)],
      workgroups: rowGroups(rows),
    });
  },
  [FusedKernel.layerNormGrad]: ({ inputs, backend }) => {
    const { dy, x, gamma, mean, rstd } = inputs as Inputs;
    const cols = lastAxis(x);
    const rows = size(x) / cols;
    const [dx] = runFusedDispatch(backend, {
      name: 'BtLayerNormGradDx',
      code: wgsl.LAYER_NORM_GRAD_DX,
      inputs: [dy, x, gamma, mean, rstd],
      outputs: [x.shape],
      uniforms: [u32(rows), u32(cols)],
      workgroups: rowGroups(rows),
    });
    const [dgamma, dbeta] = columnReduction(backend, 'BtLayerNormGradSums', wgsl.COLUMN_PARTIALS.layerNormGrad, [dy, x, mean, rstd], x, 0, { name: 'BtColumnSums', code: wgsl.COLUMN_SUMS, extra: [] });
    return [dx, dgamma, dbeta];
  },
  [FusedKernel.batchNorm]: ({ inputs, backend, attrs }) => {
    const { x, gamma, beta } = inputs as Inputs;
    const { eps } = attrs as unknown as { eps: number };
    const channels = lastAxis(x);
    const [mean, variance] = columnReduction(backend, 'BtBatchNormSums', wgsl.COLUMN_PARTIALS.batchNormStats, [x], x, eps, { name: 'BtBatchNormStats', code: wgsl.BATCH_NORM_STATS, extra: [x] });
    const [y] = runFusedDispatch(backend, {
      name: 'BtBatchNormApply',
      code: wgsl.BATCH_NORM_APPLY,
      inputs: [x, gamma, beta, mean, variance],
      outputs: [x.shape],
      uniforms: [u32(size(x)), u32(channels), f32(eps)],
      workgroups: elementGroups(size(x)),
    });
    return [y, mean, variance];
  },
  [FusedKernel.batchNormGrad]: ({ inputs, backend, attrs }) => {
    const { dy, x, gamma, mean, variance } = inputs as Inputs;
    const { eps } = attrs as unknown as { eps: number };
    const channels = lastAxis(x);
    const [dbeta, dgamma] = columnReduction(backend, 'BtBatchNormGradSums', wgsl.COLUMN_PARTIALS.batchNormGrad, [dy, x, mean, variance], x, eps, { name: 'BtColumnSums', code: wgsl.COLUMN_SUMS, extra: [] });
    const [dx] = runFusedDispatch(backend, {
      name: 'BtBatchNormGradDx',
      code: wgsl.BATCH_NORM_GRAD_DX,
      inputs: [dy, x, gamma, mean, variance, dgamma, dbeta],
      outputs: [x.shape],
      uniforms: [u32(size(x)), u32(channels), f32(eps), f32(size(x) / channels)],
      workgroups: elementGroups(size(x)),
    });
    return [dx, dgamma, dbeta];
  },
  [FusedKernel.adam]: ({ inputs, backend, attrs }) => {
    const { param, grad, m, v } = inputs as Inputs;
    const a = attrs as unknown as AdamAttrs<number>;
    return adamSteps(backend, [{ param, grad, m, v }], { ...a, decay: [a.decay], stepSize: [a.stepSize], sqrtCorrection2: [a.sqrtCorrection2] });
  },
  [FusedKernel.adamMulti]: ({ inputs, backend, attrs }) => {
    const a = attrs as unknown as AdamAttrs<number[]>;
    const named = inputs as Inputs;
    const slots = a.decay.map((_, i) => ({ param: named[`param${i}`], grad: named[`grad${i}`], m: named[`m${i}`], v: named[`v${i}`] }));
    return adamSteps(backend, slots, a);
  },
  [FusedKernel.runningStats]: ({ inputs, backend, attrs }) => {
    const { runningMean, runningVar, mean, variance, count } = inputs as Inputs;
    const { keep, momentum, varianceScale } = attrs as unknown as { keep: number; momentum: number; varianceScale: number };
    const n = size(runningMean);
    const uniforms = [u32(n), f32(keep), f32(momentum), f32(varianceScale)];
    const running = [runningMean, runningVar, count];
    // In place like Adam: the running statistics keep their buffers from one step to the next.
    if (writableInPlace(backend, running, [mean, variance])) {
      return runFusedDispatch(backend, { name: 'BtRunningStatsInPlace', code: wgsl.runningStats(true), inputs: [mean, variance], outputs: running, uniforms, workgroups: elementGroups(n) });
    }
    const outputs = [runningMean.shape, runningVar.shape, { shape: count.shape, dtype: 'int32' as const }];
    return runFusedDispatch(backend, { name: 'BtRunningStats', code: wgsl.runningStats(false), inputs: [runningMean, runningVar, count, mean, variance], outputs, uniforms, workgroups: elementGroups(n) });
  },
  [FusedKernel.attention]: ({ inputs, backend, attrs }) => {
    const { qkv } = inputs as Inputs;
    const [b, n, d3] = qkv.shape;
    const { rows, uniforms } = attentionUniforms(qkv, attrs);
    return runFusedDispatch(backend, { name: 'BtAttention', code: wgsl.ATTENTION, inputs: [qkv], outputs: [[b, n, d3 / 3], [rows / n, n, n]], uniforms, workgroups: rowGroups(rows) });
  },
  [FusedKernel.attentionGrad]: ({ inputs, backend, attrs }) => {
    const { dy, qkv, probs } = inputs as Inputs;
    const { rows, uniforms } = attentionUniforms(qkv, attrs);
    const [dLogits, dq] = runFusedDispatch(backend, {
      name: 'BtAttentionGradQueries',
      code: wgsl.ATTENTION_GRAD_QUERIES,
      inputs: [dy, qkv, probs],
      outputs: [probs.shape, dy.shape],
      uniforms,
      workgroups: rowGroups(rows),
    });
    try {
      return runFusedDispatch(backend, { name: 'BtAttentionGradKeys', code: wgsl.ATTENTION_GRAD_KEYS, inputs: [dLogits, probs, dy, qkv, dq], outputs: [qkv.shape], uniforms, workgroups: rowGroups(rows) })[0];
    } finally {
      for (const info of [dLogits, dq]) (backend as tf.KernelBackend).disposeData(info.dataId);
    }
  },
};

interface AdamAttrs<T> {
  beta1: number;
  beta2: number;
  eps: number;
  decay: T;
  stepSize: T;
  sqrtCorrection2: T;
}

interface AdamSlot {
  param: tf.TensorInfo;
  grad: tf.TensorInfo;
  m: tf.TensorInfo;
  v: tf.TensorInfo;
}

/**
 * AdamW steps of every slot: in place, as many parameters a dispatch as the device can bind (four
 * storage buffers each), for the slots whose param, m and v nothing else shares (no new buffers,
 * so the buffer pool hands every op the same buffers each step); into new tensors otherwise.
 * Returns [param', m', v'] of each slot in order.
 */
function adamSteps(backend: object, slots: AdamSlot[], a: AdamAttrs<number[]>): tf.TensorInfo[] {
  const outputs: tf.TensorInfo[] = new Array(3 * slots.length);
  const claimed = new Set<tf.DataId>();
  const inPlace: number[] = [];
  slots.forEach((slot, i) => {
    const own = [slot.param, slot.m, slot.v];
    // A buffer bound twice for writing in one dispatch is invalid: a slot sharing data with an
    // earlier one goes out of place; so does an empty one, which would make the whole dispatch empty.
    if (size(slot.param) > 0 && writableInPlace(backend, own, [slot.grad]) && !own.some((t) => claimed.has(t.dataId))) {
      for (const t of own) claimed.add(t.dataId);
      inPlace.push(i);
      return;
    }
    const n = size(slot.param);
    const uniforms = [u32(n), f32(a.beta1), f32(1 - a.beta1), f32(a.beta2), f32(1 - a.beta2), f32(a.eps), f32(a.decay[i]), f32(a.stepSize[i]), f32(a.sqrtCorrection2[i])];
    const shapes = [slot.param.shape, slot.param.shape, slot.param.shape];
    outputs.splice(3 * i, 3, ...runFusedDispatch(backend, { name: 'BtAdam', code: wgsl.ADAM, inputs: [slot.param, slot.grad, slot.m, slot.v], outputs: shapes, uniforms, workgroups: elementGroups(n) }));
  });
  // At most 8 a dispatch: beyond that the saving is small and a driver reporting a huge limit would get a huge shader.
  const perDispatch = Math.max(1, Math.min(8, Math.floor(storageBufferLimit(backend) / 4)));
  for (let start = 0; start < inPlace.length; start += perDispatch) {
    const chunk = inPlace.slice(start, start + perDispatch);
    const uniforms: Uniforms = [f32(a.beta1), f32(1 - a.beta1), f32(a.beta2), f32(1 - a.beta2), f32(a.eps)];
    for (const i of chunk) uniforms.push(u32(size(slots[i].param)), f32(a.decay[i]), f32(a.stepSize[i]), f32(a.sqrtCorrection2[i]));
    const written = runFusedDispatch(backend, {
      name: chunk.length === 1 ? 'BtAdamInPlace' : `BtAdamInPlace${chunk.length}`,
      code: wgsl.adamInPlace(chunk.length),
      inputs: chunk.map((i) => slots[i].grad),
      outputs: chunk.flatMap((i) => [slots[i].param, slots[i].m, slots[i].v]),
      uniforms,
      workgroups: elementGroups(Math.max(...chunk.map((i) => size(slots[i].param)))),
    });
    chunk.forEach((i, j) => outputs.splice(3 * i, 3, ...written.slice(3 * j, 3 * j + 3)));
  }
  return outputs;
}

/** The device's storage buffers per shader stage (8 unless the adapter offers more; WebGpuBackend asks for its maximum). */
function storageBufferLimit(backend: object): number {
  return (backend as { device: { limits: { maxStorageBuffersPerShaderStage: number } } }).device.limits.maxStorageBuffersPerShaderStage;
}

/**
 * The sum over every axis but the last (a bias gradient, as tfjs's fused matmul computes it):
 * tfjs transposes the rows to the end and reduces them, two dispatches and a full copy; a column
 * reduction reads the input once, in one dispatch up to 1024 rows and two beyond.
 */
function columnSum(backend: object, x: tf.TensorInfo, outputShape: number[]): tf.TensorInfo {
  const channels = lastAxis(x);
  const rows = size(x) / channels;
  const splits = splitsFor(rows);
  const uniforms: Uniforms = [u32(rows), u32(channels), u32(splits), f32(0)];
  const workgroups: [number, number] = [Math.ceil(channels / wgsl.COLUMN_TILE), splits];
  if (splits === 1) return runFusedDispatch(backend, { name: 'BtColumnSum', code: wgsl.COLUMN_PARTIALS.sum, inputs: [x], outputs: [outputShape], uniforms, workgroups })[0];
  const [partials] = runFusedDispatch(backend, { name: 'BtColumnSumPartials', code: wgsl.COLUMN_PARTIALS.sum, inputs: [x], outputs: [[splits, channels]], uniforms, workgroups });
  try {
    return runFusedDispatch(backend, { name: 'BtColumnSumFinish', code: wgsl.COLUMN_SUM, inputs: [partials], outputs: [outputShape], uniforms, workgroups: elementGroups(channels) })[0];
  } finally {
    (backend as tf.KernelBackend).disposeData(partials.dataId);
  }
}

/** Whether tfjs's `Sum` of `x` over `axis` reduces exactly the leading axes of a float32 tensor. */
function isLeadingAxesSum(x: tf.TensorInfo, axis: number | number[] | null | undefined): boolean {
  const rank = x.shape.length;
  if (x.dtype !== 'float32' || rank < 2 || size(x) === 0 || axis == null) return false;
  const axes = tf.util.parseAxisParam(axis, x.shape).sort((a, b) => a - b);
  return axes.length === rank - 1 && axes.every((a, i) => a === i);
}

/** tfjs kernels the plugin replaces on `webgpu` for some inputs, handing the others to tfjs's own. */
const OVERRIDES: Record<string, (original: tf.KernelFunc) => tf.KernelFunc> = {
  Sum: (original) => (args) => {
    const { x } = args.inputs as Inputs;
    const { axis, keepDims } = args.attrs as unknown as { axis: number | number[] | null; keepDims: boolean };
    if (!isLeadingAxesSum(x, axis)) return original(args);
    const channels = lastAxis(x);
    return columnSum(args.backend, x, keepDims ? [...x.shape.slice(0, -1).map(() => 1), channels] : [channels]);
  },
};

const originals = new Map<string, tf.KernelFunc>();

/** Registers (true) or removes (false) the fused kernels for the `webgpu` backend; idempotent. */
export function setFusedKernels(enabled: boolean): void {
  for (const [kernelName, kernelFunc] of Object.entries(FUSED_KERNELS)) {
    const registered = tf.getKernel(kernelName, 'webgpu');
    if (enabled && !registered) tf.registerKernel({ kernelName, backendName: 'webgpu', kernelFunc });
    if (!enabled && registered) tf.unregisterKernel(kernelName, 'webgpu');
  }
  for (const [kernelName, override] of Object.entries(OVERRIDES)) {
    const current = tf.getKernel(kernelName, 'webgpu');
    if (!current) continue;
    const original = originals.get(kernelName);
    if (enabled && !original) {
      originals.set(kernelName, current.kernelFunc);
      tf.unregisterKernel(kernelName, 'webgpu');
      tf.registerKernel({ ...current, kernelFunc: override(current.kernelFunc) });
    }
    if (!enabled && original) {
      originals.delete(kernelName);
      tf.unregisterKernel(kernelName, 'webgpu');
      tf.registerKernel({ ...current, kernelFunc: original });
    }
  }
}
