/**
 * Images/s of one Barlow Twins training step (both views forward, loss, backward, Adam) for each
 * available backend, side by side with the same step in PyTorch (bench/reference/barlow_twins_step.py)
 * at 1 and 2 threads. Models come from the backbone-vit / backbone-resnet plugins and the loss from
 * task-barlow-twins. Each (model, backend) runs in its own process: the wasm heap never shrinks, and
 * a model that exhausts it must not take the other measurements down.
 * Env: BENCH_STEPS (timed steps, default 3), BENCH_MODELS, BENCH_BACKENDS (comma lists),
 * BENCH_PROFILE=1 (per-kernel times of one step on stderr), BENCH_TIMEOUT_MIN (per measurement, default 10).
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { Rng, Slots, type Backbone, type ComponentDefinition, type Log, type PluginDefinition, type RunContext } from '@bt-platform/sdk';

export interface ModelSpec {
  title: string;
  /** The backbone component and its options. */
  backbone: { plugin: 'vit' | 'resnet'; component: string; options: Record<string, unknown> };
  image: number;
  batch: number;
  projector: number;
}

export const MODELS: Record<string, ModelSpec> = {
  'vit-tiny': {
    title: 'tiny ViT (64×64, patch 8, dim 192, depth 4, 3 heads), 16 images × 2 views',
    backbone: { plugin: 'vit', component: 'vit', options: { variant: 'custom', imageSize: 64, patchSize: 8, embedDim: 192, depth: 4, heads: 3 } },
    image: 64,
    batch: 16,
    projector: 512,
  },
  'deit-tiny': {
    title: 'deit-tiny/16 (224×224), 8 images × 2 views',
    backbone: { plugin: 'vit', component: 'vit', options: { variant: 'tiny/16', imageSize: 224 } },
    image: 224,
    batch: 8,
    projector: 512,
  },
  resnet18: {
    title: 'ResNet-18 (128×128), 8 images × 2 views',
    backbone: { plugin: 'resnet', component: 'resnet18', options: {} },
    image: 128,
    batch: 8,
    projector: 512,
  },
};

const silent: Log = { debug() {}, info() {}, warn() {}, error() {} };

async function component<T>(plugin: PluginDefinition, name: string): Promise<ComponentDefinition<T>> {
  const defs = new Map<string, ComponentDefinition<T>>();
  plugin.register!({ component: (_slot, def) => void defs.set(def.name, def as unknown as ComponentDefinition<T>) }, {});
  return defs.get(name)!;
}

/** Builds the model (plugins' backbone + Barlow Twins task) and returns one training step and the parameters (by module path). */
export async function barlowTwinsStep(spec: ModelSpec): Promise<{ step: () => number; dispose: () => void; parameters: Record<string, tf.Variable> }> {
  const plugin = spec.backbone.plugin === 'vit' ? (await import('@bt-platform/plugin-backbone-vit')).default : (await import('@bt-platform/plugin-backbone-resnet')).default;
  const def = await component<Backbone>(plugin as PluginDefinition, spec.backbone.component);
  const ctx = { rng: new Rng(1), log: silent, resolvePath: (p: string) => p, config: {}, get: () => Promise.reject(new Error('not in a run')) } as unknown as RunContext;
  const backbone = await def.create(def.options ? (def.options.parse(spec.backbone.options) as never) : ({} as never), ctx);
  const { BarlowTwinsTask, barlowTwinsOptions } = await import('@bt-platform/plugin-task-barlow-twins');
  const task = new BarlowTwinsTask(backbone, barlowTwinsOptions.parse({ projectorDim: spec.projector }), 7);
  task.model.train();
  const shape: [number, number, number, number] = [spec.batch, spec.image, spec.image, 3];
  const batch = { view1: tf.randomNormal(shape, 0, 1, 'float32', 11), view2: tf.randomNormal(shape, 0, 1, 'float32', 12) };
  // The platform's own Adam (optim plugin), as a run with `optimizer: { use: adam }` trains.
  const { AdamW, adamWOptions } = await import('@bt-platform/plugin-optim');
  const optimizer = new AdamW(adamWOptions.parse({ lr: 1e-3, weightDecay: 0 }), 'adam');
  const vars = Object.values(task.model.trainableVariables());
  const byName = Object.fromEntries(vars.map((v) => [v.name, v]));
  return {
    parameters: task.model.trainableVariables(),
    step: () => {
      const { value, grads } = tf.variableGrads(() => task.trainingStep(batch).loss, vars);
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

export interface Measurement {
  imagesPerS: number;
  stepMs: number;
  cpuMs: number;
  /** native-2t only: the hottest kernels of one profiled step, with their share of the summed kernel time. */
  profile?: Array<[string, number]>;
  tensorsLeaked: number;
}

/** The fastest of `steps` timed steps after one warm-up step (the first builds kernels and grows the heap). */
export async function measure(spec: ModelSpec, steps: number): Promise<Measurement> {
  const run = await barlowTwinsStep(spec);
  run.step();
  const before = tf.memory().numTensors;
  let stepMs = Infinity;
  let cpuMs = Infinity;
  for (let i = 0; i < steps; i++) {
    const start = performance.now();
    const cpu = process.cpuUsage();
    run.step();
    const used = process.cpuUsage(cpu);
    stepMs = Math.min(stepMs, performance.now() - start);
    cpuMs = Math.min(cpuMs, (used.user + used.system) / 1000);
  }
  const tensorsLeaked = tf.memory().numTensors - before;
  run.dispose();
  return { imagesPerS: (spec.batch * 1000) / stepMs, stepMs, cpuMs, tensorsLeaked };
}

/** Per-kernel milliseconds of one step, hottest first. */
export async function profileStep(spec: ModelSpec): Promise<Array<[string, number]>> {
  const run = await barlowTwinsStep(spec);
  run.step();
  const info = await tf.profile(() => void run.step());
  run.dispose();
  const totals = new Map<string, number>();
  for (const k of info.kernels) totals.set(k.name, (totals.get(k.name) ?? 0) + (k.kernelTimeMs as number));
  return [...totals].sort((a, b) => b[1] - a[1]);
}

/** `native` runs the addon on 1 thread, `native-2t` on 2. */
type BackendName = 'native' | 'native-2t' | 'wasm' | 'cpu';

async function useBackend(name: BackendName): Promise<void> {
  if (name.startsWith('native')) {
    const { useNativeBackend } = await import('@bt-platform/plugin-backend-native');
    await useNativeBackend({ threads: name === 'native-2t' ? 2 : 1 });
  } else {
    const { useJsBackend } = await import('@bt-platform/plugin-backend-tfjs');
    await useJsBackend(name as 'wasm' | 'cpu');
  }
}

const self = fileURLToPath(import.meta.url);

/** One measurement in a child process (`--child model backend steps`), as JSON on stdout. */
async function child(model: string, backend: BackendName, steps: number): Promise<void> {
  let result: Measurement | { error: string };
  try {
    await useBackend(backend);
    result = await measure(MODELS[model], steps);
    if (process.env.BENCH_PROFILE === '1' || backend === 'native-2t') {
      const kernels = await profileStep(MODELS[model]);
      const total = kernels.reduce((sum, [, ms]) => sum + ms, 0);
      (result as Measurement).profile = kernels.slice(0, 6).map(([k, ms]) => [k, ms / total]);
      if (process.env.BENCH_PROFILE === '1') {
        process.stderr.write(`${model} on ${backend}: ${(result as Measurement).stepMs.toFixed(0)} ms/step\n${kernels.slice(0, 15).map(([k, ms]) => `  ${k.padEnd(28)} ${ms.toFixed(1)} ms`).join('\n')}\n`);
      }
    }
  } catch (error) {
    const message = ((error as Error).message ?? String(error)).split('\n')[0];
    // tfjs-wasm aborts without a message when its 4 GB heap cannot grow any further.
    result = { error: message.startsWith('Aborted()') ? 'wasm heap (4 GB) exhausted' : message };
  }
  process.stdout.write(`\n${JSON.stringify(result)}\n`);
}

const timeoutMin = Number(process.env.BENCH_TIMEOUT_MIN) || 10;

function inChild(model: string, backend: BackendName, steps: number): Measurement | { error: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', self, '--child', model, backend, String(steps)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26, timeout: timeoutMin * 60_000 });
  const last = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(last) as Measurement | { error: string };
  } catch {
    if (r.error && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT') return { error: `stopped after ${timeoutMin} min` };
    return { error: r.signal ? `killed by ${r.signal}` : `exited with ${r.status}` };
  }
}

export function python(): string | undefined {
  for (const candidate of ['python3', '/usr/bin/python3']) {
    if (spawnSync(candidate, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0) return candidate;
  }
  return undefined;
}

function pytorch(py: string, model: string, threads: number, steps: number): { imagesPerS: number; cpuMs: number } | { error: string } {
  const script = path.join(path.dirname(self), 'reference', 'barlow_twins_step.py');
  // torch.set_num_threads does not bound OpenBLAS's own pool: pin every pool to `threads`.
  const env = { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads), MKL_NUM_THREADS: String(threads) };
  const r = spawnSync(py, [script, '--model', model, '--threads', String(threads), '--steps', String(steps), '--projector', String(MODELS[model].projector)], { encoding: 'utf8', env });
  if (r.status !== 0) return { error: `failed: ${(r.stderr || '').trim().split('\n').pop()}` };
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { images_per_s: number; cpu_ms: number };
  return { imagesPerS: out.images_per_s, cpuMs: out.cpu_ms };
}

const cell = (m: { imagesPerS: number; tensorsLeaked?: number } | { error: string }) =>
  'error' in m ? `– (${m.error})` : `${m.imagesPerS.toFixed(2)}${m.tensorsLeaked ? ` (leaked ${m.tensorsLeaked} tensors)` : ''}`;

export default async function bench(): Promise<string> {
  const steps = Number(process.env.BENCH_STEPS) || 3;
  const models = (process.env.BENCH_MODELS ?? 'vit-tiny,deit-tiny,resnet18').split(',');
  const backends = (process.env.BENCH_BACKENDS ?? 'native,native-2t,wasm,cpu').split(',') as BackendName[];
  const py = python();
  const lines = [
    '## Backends: one Barlow Twins training step',
    '',
    `Images/s (higher is better): both views forward, Barlow Twins loss (projector ${MODELS[models[0]]?.projector ?? 512}-d ×3, no biases), backward, Adam; the fastest of ${steps} timed steps after one warm-up, each backend in its own process. \`native-2t\`: the native backend with 2 threads. PyTorch runs the same step (bench/reference/barlow_twins_step.py) in the same invocation. \`cpu\` runs only the tiny ViT (it is about 50× slower). Ratio: best native / best PyTorch. "CPU ms" is the CPU time of the fastest single-threaded step, which a shared machine disturbs less than wall time.`,
    '',
    `| workload | ${backends.join(' | ')} | PyTorch 1 thread | PyTorch 2 threads | ratio | CPU ms/step: native / PyTorch (1 thread) |`,
    `|---|${backends.map(() => '---|').join('')}---|---|---|---|`,
  ];
  const profiles: string[] = [];
  for (const model of models) {
    const spec = MODELS[model];
    // cpu (and wasm on the large models, minutes per step) get one timed step.
    const results = backends.map((b) => (b === 'cpu' && model !== 'vit-tiny' ? { error: 'skipped' } : inChild(model, b, b === 'cpu' || (b === 'wasm' && model !== 'vit-tiny') ? 1 : steps)));
    const torch = py ? [1, 2].map((t) => pytorch(py, model, t, steps)) : [{ error: 'PyTorch not installed' }, { error: 'PyTorch not installed' }];
    const best = (xs: Array<{ imagesPerS: number } | { error: string }>) => Math.max(-1, ...xs.map((x) => ('error' in x ? -1 : x.imagesPerS)));
    const nativeBest = best(results.filter((_, i) => backends[i].startsWith('native')));
    const torchBest = best(torch);
    const ratio = nativeBest > 0 && torchBest > 0 ? (nativeBest / torchBest).toFixed(2) : '–';
    const n1 = results[backends.indexOf('native')];
    const cpuCell = n1 && !('error' in n1) && !('error' in torch[0]) ? `${n1.cpuMs.toFixed(0)} / ${torch[0].cpuMs.toFixed(0)}` : '–';
    lines.push(`| ${spec.title} | ${results.map(cell).join(' | ')} | ${torch.map(cell).join(' | ')} | ${ratio} | ${cpuCell} |`);
    const profiled = results.find((r): r is Measurement => !('error' in r) && r.profile !== undefined);
    if (profiled) profiles.push(`- ${spec.title.split(' (')[0]}: ${profiled.profile!.map(([k, share]) => `${k === 'unnamed scope' ? 'custom-gradient ops' : k} ${(100 * share).toFixed(0)} %`).join(', ')}`);
  }
  // tf.profile times a custom-gradient op (GELU, layer norm, …) as a whole and its kernels again inside.
  if (profiles.length) lines.push('', 'Where the native-2t step spends its kernel time (one profiled step; shares of the summed kernel times, top 6):', '', ...profiles);
  lines.push('', `Machine: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.availableParallelism()} cores, load average ${os.loadavg()[0].toFixed(1)} at the end; Node ${process.version}, tfjs ${tf.version.tfjs}.`);
  return lines.join('\n');
}

const argv = process.argv;
if (argv[1] && path.resolve(argv[1]) === self) {
  if (argv[2] === '--child') await child(argv[3], argv[4] as BackendName, Number(argv[5]));
  else console.log(await bench());
}
