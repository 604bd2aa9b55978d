/**
 * Images/s of one Barlow Twins training step (forward of two views, loss, backward, Adam) for each
 * available backend, side by side with the same step in PyTorch (bench/reference/barlow_twins_step.py)
 * at 1 and 2 threads. Env: BENCH_STEPS (timed steps, default 3), BENCH_MODELS (comma list),
 * BENCH_BACKENDS (comma list), BENCH_PROFILE=1 (per-kernel times of one step on stderr).
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';

type Params = Record<string, tf.Variable>;

export interface ModelSpec {
  kind: 'vit' | 'resnet';
  title: string;
  image: number;
  batch: number;
  patch?: number;
  dim?: number;
  depth?: number;
  heads?: number;
}

export const MODELS: Record<string, ModelSpec> = {
  'vit-tiny': { kind: 'vit', title: 'tiny ViT (64×64, patch 8, dim 192, depth 4, 3 heads), 16 images × 2 views', image: 64, patch: 8, dim: 192, depth: 4, heads: 3, batch: 16 },
  'deit-tiny': { kind: 'vit', title: 'deit-tiny/16 (224×224), 8 images × 2 views', image: 224, patch: 16, dim: 192, depth: 12, heads: 3, batch: 8 },
  resnet18: { kind: 'resnet', title: 'ResNet-18 (128×128), 8 images × 2 views', image: 128, batch: 8 },
};

const PROJECTOR = 512;
let seed = 1;

function param(params: Params, name: string, shape: number[], std: number): tf.Variable {
  params[name] = tf.variable(std === 0 ? tf.zeros(shape) : std === 1 ? tf.ones(shape) : tf.randomNormal(shape, 0, std, 'float32', seed++), true, name);
  return params[name];
}

function linear(params: Params, name: string, din: number, dout: number): (x: tf.Tensor) => tf.Tensor {
  const w = param(params, `${name}.weight`, [din, dout], Math.sqrt(1 / din));
  const b = param(params, `${name}.bias`, [dout], 0);
  return (x) => {
    const flat = x.rank === 2 ? x : tf.reshape(x, [-1, din]);
    const y = tf.add(tf.matMul(flat, w), b);
    return x.rank === 2 ? y : tf.reshape(y, [...x.shape.slice(0, -1), dout]);
  };
}

function layerNorm(params: Params, name: string, dim: number): (x: tf.Tensor) => tf.Tensor {
  const g = param(params, `${name}.weight`, [dim], 1);
  const b = param(params, `${name}.bias`, [dim], 0);
  return (x) => {
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-6))), g), b);
  };
}

function batchNorm(params: Params, name: string, dim: number, axes: number[]): (x: tf.Tensor) => tf.Tensor {
  const g = param(params, `${name}.weight`, [dim], 1);
  const b = param(params, `${name}.bias`, [dim], 0);
  return (x) => {
    const { mean, variance } = tf.moments(x, axes);
    return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5))), g), b);
  };
}

/** A timm-style ViT as backbone-vit builds it: patches by reshape/transpose, pre-norm blocks, erf GELU. */
function vit(params: Params, s: ModelSpec): (x: tf.Tensor4D) => tf.Tensor2D {
  const { image, patch: p = 16, dim: d = 192, depth = 12, heads: h = 3 } = s;
  const g = image / p;
  const n = g * g + 1;
  const hd = d / h;
  const embed = linear(params, 'patch_embed', p * p * 3, d);
  const cls = param(params, 'cls_token', [1, 1, d], 0.02);
  const pos = param(params, 'pos_embed', [1, n, d], 0.02);
  const blocks = Array.from({ length: depth }, (_, i) => {
    const norm1 = layerNorm(params, `blocks.${i}.norm1`, d);
    const qkv = linear(params, `blocks.${i}.attn.qkv`, d, 3 * d);
    const proj = linear(params, `blocks.${i}.attn.proj`, d, d);
    const norm2 = layerNorm(params, `blocks.${i}.norm2`, d);
    const fc1 = linear(params, `blocks.${i}.mlp.fc1`, d, 4 * d);
    const fc2 = linear(params, `blocks.${i}.mlp.fc2`, 4 * d, d);
    return (x: tf.Tensor) => {
      const b = x.shape[0];
      const [q, k, v] = tf.unstack(tf.transpose(tf.reshape(qkv(norm1(x)), [b, n, 3, h, hd]), [2, 0, 3, 1, 4]));
      const attn = tf.softmax(tf.matMul(tf.mul(q, 1 / Math.sqrt(hd)), k, false, true));
      const merged = tf.reshape(tf.transpose(tf.matMul(attn, v), [0, 2, 1, 3]), [b, n, d]);
      const y = tf.add(x, proj(merged));
      const hidden = fc1(norm2(y));
      const act = tf.mul(tf.mul(hidden, 0.5), tf.add(tf.erf(tf.mul(hidden, Math.SQRT1_2)), 1));
      return tf.add(y, fc2(act));
    };
  });
  const norm = layerNorm(params, 'norm', d);
  return (images) => {
    const b = images.shape[0];
    const patches = tf.reshape(tf.transpose(tf.reshape(images, [b, g, p, g, p, 3]), [0, 1, 3, 2, 4, 5]), [b, g * g, p * p * 3]);
    let x = tf.concat([tf.tile(cls, [b, 1, 1]), embed(patches)], 1);
    x = tf.add(x, pos);
    for (const block of blocks) x = block(x);
    return tf.reshape(tf.slice(norm(x), [0, 0, 0], [b, 1, d]), [b, d]) as tf.Tensor2D;
  };
}

/** ResNet-18 as torchvision builds it (BasicBlocks, batch statistics in training). */
function resnet18(params: Params): (x: tf.Tensor4D) => tf.Tensor2D {
  const conv = (name: string, k: number, cin: number, cout: number, stride: number) => {
    const w = param(params, `${name}.weight`, [k, k, cin, cout], Math.sqrt(2 / (k * k * cin)));
    const bn = batchNorm(params, `${name}.bn`, cout, [0, 1, 2]);
    return (x: tf.Tensor) => bn(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, k === 1 ? 'valid' : 'same'));
  };
  const stem = conv('conv1', 7, 3, 64, 2);
  const blocks: ((x: tf.Tensor) => tf.Tensor)[] = [];
  let cin = 64;
  for (const [li, [cout, stride]] of ([[64, 1], [128, 2], [256, 2], [512, 2]] as const).entries()) {
    for (let bi = 0; bi < 2; bi++) {
      const s = bi === 0 ? stride : 1;
      const c1 = conv(`layer${li + 1}.${bi}.conv1`, 3, cin, cout, s);
      const c2 = conv(`layer${li + 1}.${bi}.conv2`, 3, cout, cout, 1);
      const down = s !== 1 || cin !== cout ? conv(`layer${li + 1}.${bi}.downsample`, 1, cin, cout, s) : undefined;
      blocks.push((x) => tf.relu(tf.add(c2(tf.relu(c1(x))), down ? down(x) : x)));
      cin = cout;
    }
  }
  return (images) => {
    let x = tf.maxPool(tf.relu(stem(images)) as tf.Tensor4D, 3, 2, 'same') as tf.Tensor;
    for (const block of blocks) x = block(x);
    return tf.mean(x, [1, 2]) as tf.Tensor2D;
  };
}

function barlowTwinsLoss(z1: tf.Tensor2D, z2: tf.Tensor2D, lambda = 0.005): tf.Scalar {
  const n = z1.shape[0];
  const standardize = (z: tf.Tensor2D) => {
    const { mean, variance } = tf.moments(z, 0);
    return tf.div(tf.sub(z, mean), tf.add(tf.sqrt(variance), 1e-5));
  };
  const c = tf.div(tf.matMul(standardize(z1), standardize(z2), true, false), n);
  const diag = tf.mul(c, tf.eye(c.shape[0]));
  const onDiag = tf.sum(tf.square(tf.sub(tf.sum(diag, 1), 1)));
  const offDiag = tf.sub(tf.sum(tf.square(c)), tf.sum(tf.square(diag)));
  return tf.add(onDiag, tf.mul(offDiag, lambda)) as tf.Scalar;
}

/** Builds the model and returns one training step; the caller disposes with `dispose`. */
export function barlowTwinsStep(spec: ModelSpec, projector = PROJECTOR): { step: () => number; dispose: () => void } {
  const PROJECTOR = projector;
  seed = 1;
  const params: Params = {};
  const backbone = spec.kind === 'vit' ? vit(params, spec) : resnet18(params);
  const featureDim = spec.kind === 'vit' ? spec.dim! : 512;
  const l1 = linear(params, 'projector.0', featureDim, PROJECTOR);
  const bn1 = batchNorm(params, 'projector.1', PROJECTOR, [0]);
  const l2 = linear(params, 'projector.3', PROJECTOR, PROJECTOR);
  const bn2 = batchNorm(params, 'projector.4', PROJECTOR, [0]);
  const l3 = linear(params, 'projector.6', PROJECTOR, PROJECTOR);
  const model = (x: tf.Tensor4D) => l3(tf.relu(bn2(l2(tf.relu(bn1(l1(backbone(x)))))))) as tf.Tensor2D;
  const shape: [number, number, number, number] = [spec.batch, spec.image, spec.image, 3];
  const v1 = tf.randomNormal(shape, 0, 1, 'float32', 11) as tf.Tensor4D;
  const v2 = tf.randomNormal(shape, 0, 1, 'float32', 12) as tf.Tensor4D;
  const optimizer = tf.train.adam(1e-3);
  const vars = Object.values(params);
  return {
    step: () => {
      const { value, grads } = tf.variableGrads(() => barlowTwinsLoss(model(v1), model(v2)), vars);
      optimizer.applyGradients(grads as tf.NamedTensorMap as Record<string, tf.Variable>);
      const loss = value.dataSync()[0];
      tf.dispose([value, ...Object.values(grads)]);
      return loss;
    },
    dispose: () => {
      optimizer.dispose();
      tf.dispose([v1, v2, ...vars]);
    },
  };
}

/** Images/s of the fastest of `steps` timed steps after one warm-up step (the first builds kernels and grows the heap). */
export function measure(spec: ModelSpec, steps: number): { imagesPerS: number; stepMs: number; tensorsLeaked: number } {
  const run = barlowTwinsStep(spec);
  run.step();
  const before = tf.memory().numTensors;
  // The fastest step: the machine is shared, and slower steps measure the neighbours.
  let stepMs = Infinity;
  for (let i = 0; i < steps; i++) {
    const start = performance.now();
    run.step();
    stepMs = Math.min(stepMs, performance.now() - start);
  }
  const tensorsLeaked = tf.memory().numTensors - before;
  run.dispose();
  return { imagesPerS: (spec.batch * 1000) / stepMs, stepMs, tensorsLeaked };
}

/** Per-kernel milliseconds of one step, hottest first. */
export async function profileStep(spec: ModelSpec): Promise<Array<[string, number]>> {
  const run = barlowTwinsStep(spec);
  run.step();
  const info = await tf.profile(() => void run.step());
  run.dispose();
  const totals = new Map<string, number>();
  for (const k of info.kernels) totals.set(k.name, (totals.get(k.name) ?? 0) + (k.kernelTimeMs as number));
  return [...totals].sort((a, b) => b[1] - a[1]);
}

type BackendName = 'cpu' | 'wasm' | 'native';

async function useBackend(name: BackendName): Promise<string | undefined> {
  const native = await import('@bt-platform/plugin-backend-native');
  const { useJsBackend } = await import('@bt-platform/plugin-backend-tfjs');
  if (name === 'native') {
    try {
      await native.useNativeBackend();
    } catch (error) {
      return (error as Error).message;
    }
    return undefined;
  }
  native.uninstallNativeKernels();
  await useJsBackend(name);
  return undefined;
}

function python(): string | undefined {
  for (const candidate of ['python3', '/usr/bin/python3']) {
    if (spawnSync(candidate, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0) return candidate;
  }
  return undefined;
}

function pytorch(py: string, model: string, threads: number, steps: number): number | string {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'reference', 'barlow_twins_step.py');
  const r = spawnSync(py, [script, '--model', model, '--threads', String(threads), '--steps', String(steps), '--projector', String(PROJECTOR)], { encoding: 'utf8' });
  if (r.status !== 0) return `failed: ${(r.stderr || '').trim().split('\n').pop()}`;
  return (JSON.parse(r.stdout.trim().split('\n').pop()!) as { images_per_s: number }).images_per_s;
}

export default async function bench(): Promise<string> {
  const steps = Number(process.env.BENCH_STEPS) || 3;
  const models = (process.env.BENCH_MODELS ?? 'vit-tiny,deit-tiny,resnet18').split(',');
  const backends = (process.env.BENCH_BACKENDS ?? 'native,wasm,cpu').split(',') as BackendName[];
  const py = python();
  const lines = [
    '## Backends: one Barlow Twins training step',
    '',
    `Images/s (higher is better) of one step: both views forward, Barlow Twins loss (projector ${PROJECTOR}-${PROJECTOR}-${PROJECTOR}), backward, Adam; the fastest of ${steps} timed steps after one warm-up (the machine is shared). PyTorch runs the same step (bench/reference/barlow_twins_step.py) in the same invocation. \`cpu\` runs only the tiny ViT (it is ~50× slower). Ratio = native / best PyTorch.`,
    '',
    '| workload | ' + backends.join(' | ') + ' | PyTorch 1 thread | PyTorch 2 threads | ratio |',
    '|---|' + backends.map(() => '---|').join('') + '---|---|---|',
  ];
  for (const model of models) {
    const spec = MODELS[model];
    const cells: string[] = [];
    let nativeRate: number | undefined;
    for (const backend of backends) {
      if (backend === 'cpu' && model !== 'vit-tiny') {
        cells.push('–');
        continue;
      }
      const why = await useBackend(backend);
      if (why) {
        cells.push(`n/a (${why.split(';')[0]})`);
        continue;
      }
      const r = measure(spec, backend === 'cpu' ? 1 : steps);
      if (backend === 'native') nativeRate = r.imagesPerS;
      cells.push(`${r.imagesPerS.toFixed(2)}${r.tensorsLeaked ? ` (leaked ${r.tensorsLeaked} tensors)` : ''}`);
      if (process.env.BENCH_PROFILE === '1') {
        const top = (await profileStep(spec)).slice(0, 15);
        process.stderr.write(`${model} on ${backend}: ${r.stepMs.toFixed(0)} ms/step\n${top.map(([k, ms]) => `  ${k.padEnd(28)} ${ms.toFixed(1)} ms`).join('\n')}\n`);
      }
    }
    const torch = py ? [1, 2].map((t) => pytorch(py, model, t, steps)) : ['not installed', 'not installed'];
    const best = Math.max(...torch.filter((t): t is number => typeof t === 'number'));
    const ratio = nativeRate && Number.isFinite(best) ? (nativeRate / best).toFixed(2) : '–';
    lines.push(`| ${spec.title} | ${cells.join(' | ')} | ${torch.map((t) => (typeof t === 'number' ? t.toFixed(2) : t)).join(' | ')} | ${ratio} |`);
  }
  lines.push('', `Machine: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.availableParallelism()} cores, Node ${process.version}, tfjs ${tf.version.tfjs}.`);
  return lines.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  bench().then((md) => console.log(md));
}
