/**
 * The WebGPU backend (backend-webgpu): one Barlow Twins training step of a ViT (projector 512-d ×3,
 * the platform's Adam) on Dawn, in three settings, each in its own process:
 * - `gpu`: the default adapter when it is a real GPU, on ViT-S/16 at 224 px, 64 images × 2 views:
 *   the step timed for real (its loss is read back, so the time includes the GPU finishing).
 *   Skipped, saying why, on a software adapter or none.
 * - `null`: Dawn's null device (`backend=null`), which executes nothing, so the step's time is the
 *   host's cost alone: tfjs op dispatch, shader-cache lookups, uniforms, bind groups, encoding.
 *   It refuses to hold more than 512 MB of buffers, less than ViT-S/16's weights, gradients and
 *   Adam moments, so it runs ViT-Ti/16 — the same twelve blocks, hence the same programs and
 *   dispatches, at half the width — at 64 px, 2 images × 2 views.
 * - `null-composite`: the same without the plugin's WGSL kernels for the SDK's fused ops (GELU,
 *   layer and batch norm, softmax gradient, Adam), which then run as tfjs's composite ops.
 * - `null-no-reuse`: `null` with tfjs's own buffer pool order and a new bind group per dispatch
 *   (the backend's `reuseBindGroups: false`), to show what BindGroupReuse saves.
 * - `null-resnet`: `null` with a ResNet-18 backbone (batch norm: separate passes per view, running
 *   statistics), at the null device's image size and batch.
 * Counted per step: compute dispatches (`dispatchWorkgroups`, one per WebGPU program; small ops on
 * host-resident tensors run on the CPU and dispatch nothing), queue submits, and compute pipelines
 * created (shader compilations), which should be 0 once the model has run, and bind groups Dawn
 * created (cache misses), which should be 0 once the steps repeat (the last timed step's count is reported).
 * Env: BENCH_GPU_MODEL, BENCH_GPU_IMAGE, BENCH_GPU_BATCH (the real GPU's workload: small/16, 224,
 * 64), BENCH_GPU_NULL_MODEL, BENCH_GPU_NULL_IMAGE, BENCH_GPU_NULL_BATCH (the null device's:
 * tiny/16, 64, 2), BENCH_GPU_PROJECTOR (512), BENCH_GPU_DEVICES (null-composite,null-no-reuse,null,null-resnet,gpu),
 * BENCH_STEPS (timed steps, default 10), BENCH_TIMEOUT_MIN (per device, default 20),
 * BENCH_GPU_ALLOW_SOFTWARE=1 (run the `gpu` row on a software adapter too: to check the bench itself).
 * After the `gpu` row, the same step runs in PyTorch on CUDA where PyTorch sees a CUDA device
 * (bench/reference/barlow_twins_step.py --model vit-small --device cuda) and the ratio is printed.
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { barlowTwinsStep, python, type ModelSpec } from './backend.bench.js';

type DeviceName = 'null' | 'null-composite' | 'null-no-reuse' | 'null-resnet' | 'gpu';

interface StepWork {
  dispatches: number;
  submits: number;
  pipelines: number;
  bindGroups: number;
}

export interface GpuMeasurement {
  adapter: string;
  firstStepMs: number;
  /** Pipelines created by the first, the second and the later steps. */
  pipelines: [number, number, number];
  /** Programs that created a pipeline after the first step. */
  latePipelines: Record<string, number>;
  perStep: StepWork;
  stepMs: number;
  medianStepMs: number;
  cpuMs: number;
  topPrograms: Array<[string, number]>;
  tensorsLeaked: number;
  /** Host ms inside Dawn's calls during the fastest step, by call. */
  dawnMs: Record<string, number>;
}

function spec(device: DeviceName): ModelSpec {
  const onNull = device !== 'gpu';
  const env = (key: string) => process.env[onNull ? `BENCH_GPU_NULL_${key}` : `BENCH_GPU_${key}`];
  const image = Number(env('IMAGE')) || (onNull ? 64 : 224);
  const batch = Number(env('BATCH')) || (onNull ? 2 : 64);
  const projector = Number(process.env.BENCH_GPU_PROJECTOR) || 512;
  if (device === 'null-resnet') {
    return { title: `ResNet-18, ${image} px, ${batch} × 2`, backbone: { plugin: 'resnet', component: 'resnet18', options: {} }, image, batch, projector };
  }
  const variant = env('MODEL') ?? (onNull ? 'tiny/16' : 'small/16');
  return {
    title: `ViT-${variant.replace('tiny', 'Ti').replace('small', 'S').replace('base', 'B')}, ${image} px, ${batch} × 2`,
    backbone: { plugin: 'vit', component: 'vit', options: { variant, imageSize: image } },
    image,
    batch,
    projector,
  };
}

const total = (record: Record<string, number>) => Object.values(record).reduce((a, b) => a + b, 0);

/** One device's measurement, in this process. */
export async function measureGpu(device: DeviceName, steps: number): Promise<GpuMeasurement | { skipped: string }> {
  const { useWebGpuBackend, countGpuWork } = await import('@bt-platform/plugin-backend-webgpu');
  let info;
  try {
    const allowSoftware = device === 'gpu' && process.env.BENCH_GPU_ALLOW_SOFTWARE === '1';
    info = await useWebGpuBackend({ dawnFlags: device === 'gpu' ? [] : ['backend=null'], fusedKernels: device !== 'null-composite', reuseBindGroups: device !== 'null-no-reuse', allowSoftware });
  } catch (error) {
    return { skipped: (error as Error).message.split('\n')[0] };
  }
  const counter = countGpuWork();
  const run = await barlowTwinsStep(spec(device));
  let start = performance.now();
  run.step();
  const firstStepMs = performance.now() - start;
  const first = counter.snapshot();
  run.step();
  const second = counter.snapshot();
  const before = tf.memory().numTensors;
  const times: number[] = [];
  let cpuMs = Infinity;
  let later = 0;
  const programs = new Map<string, number>();
  let perStep: StepWork = { dispatches: 0, submits: 0, pipelines: 0, bindGroups: 0 };
  let dawnMs: Record<string, number> = {};
  let fastest = Infinity;
  for (let i = 0; i < steps; i++) {
    const cpu = process.cpuUsage();
    start = performance.now();
    run.step();
    const ms = performance.now() - start;
    times.push(ms);
    const used = process.cpuUsage(cpu);
    cpuMs = Math.min(cpuMs, (used.user + used.system) / 1000);
    const work = counter.snapshot();
    if (ms < fastest) [fastest, dawnMs] = [ms, work.dawnMs];
    later += total(work.pipelines);
    perStep = { dispatches: work.dispatches, submits: work.submits, pipelines: total(work.pipelines), bindGroups: work.bindGroups };
    if (i === 0) for (const [name, n] of Object.entries(work.programs)) programs.set(name, n);
  }
  const tensorsLeaked = tf.memory().numTensors - before;
  run.dispose();
  times.sort((a, b) => a - b);
  return {
    adapter: info.detail.replace(/^WebGPU \(Dawn\) on /, ''),
    firstStepMs,
    pipelines: [total(first.pipelines), total(second.pipelines), later],
    latePipelines: second.pipelines,
    perStep,
    stepMs: times[0],
    medianStepMs: times[Math.floor(times.length / 2)],
    cpuMs,
    topPrograms: [...programs].sort((a, b) => b[1] - a[1]).slice(0, 8),
    tensorsLeaked,
    dawnMs,
  };
}

const self = fileURLToPath(import.meta.url);
const timeoutMin = Number(process.env.BENCH_TIMEOUT_MIN) || 20;

function inChild(device: DeviceName, steps: number): GpuMeasurement | { skipped: string } | { error: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', self, '--child', device, String(steps)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26, timeout: timeoutMin * 60_000 });
  const last = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(last) as GpuMeasurement | { skipped: string };
  } catch {
    if (r.error && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT') return { error: `stopped after ${timeoutMin} min` };
    return { error: r.signal ? `killed by ${r.signal}` : `exited with ${r.status}` };
  }
}

const LABEL: Record<DeviceName, string> = {
  'null-composite': 'Dawn null device, fused ops as composites',
  'null-no-reuse': 'Dawn null device, WGSL kernels, without bind-group reuse',
  'null-resnet': 'Dawn null device, WGSL kernels, ResNet',
  null: 'Dawn null device, fused ops as WGSL kernels',
  gpu: 'default adapter (real GPU), WGSL kernels',
};

export default async function bench(): Promise<string> {
  const steps = Number(process.env.BENCH_STEPS) || 10;
  const devices = (process.env.BENCH_GPU_DEVICES ?? 'null-composite,null-no-reuse,null,null-resnet,gpu').split(',') as DeviceName[];
  const lines = [
    '## WebGPU backend: one Barlow Twins training step',
    '',
    `A Barlow Twins step of a ViT (of a ResNet-18 in the ResNet row), projector ${spec('gpu').projector}-d ×3, the platform's Adam; tfjs-backend-webgpu 4.22 on Dawn (npm \`webgpu\`). Dispatches: \`dispatchWorkgroups\` calls, one per WebGPU program (small ops on host-resident tensors run on the CPU and dispatch nothing). Submits: \`GPUQueue.submit\` calls (tfjs submits every 15 dispatches). Pipelines: compute pipelines created (shader compilations) in the first step / the second / the ${steps} timed steps. Bind groups: those Dawn created in the last timed step, i.e. not found in the backend's cache (the platform's bind-group reuse). Step ms: fastest and median of ${steps} steps after two warm-up steps; CPU ms: the fastest step's process CPU time. Dawn's null device executes nothing, so its step time is the host's cost alone; it holds at most 512 MB of buffers, less than ViT-S/16's weights, gradients and Adam moments, so it runs ViT-Ti/16: the same twelve blocks, hence the same programs and dispatches, at half the width. "Fused ops" are the SDK's GELU, layer norm, batch norm, softmax gradient and Adam step, as the plugin's WGSL kernels or as tfjs's composite ops.`,
    '',
    '| device | workload (images × views) | adapter | dispatches/step | submits/step | pipelines (1st / 2nd / later) | bind groups created/step | first step ms | step ms (min / median) | CPU ms/step | host µs/dispatch | in Dawn calls ms/step |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  const notes: string[] = [];
  for (const device of devices) {
    const m = inChild(device, steps);
    if ('skipped' in m || 'error' in m) {
      lines.push(`| ${LABEL[device]} | ${spec(device).title} | – (${'skipped' in m ? `skipped: ${m.skipped}` : m.error}) | | | | | | | | | |`);
      continue;
    }
    const perDispatch = device !== 'gpu' ? ((1000 * m.stepMs) / m.perStep.dispatches).toFixed(0) : '–';
    const inDawn = total(m.dawnMs);
    lines.push(`| ${LABEL[device]} | ${spec(device).title} | ${m.adapter} | ${m.perStep.dispatches} | ${m.perStep.submits} | ${m.pipelines.join(' / ')} | ${m.perStep.bindGroups} | ${m.firstStepMs.toFixed(0)} | ${m.stepMs.toFixed(0)} / ${m.medianStepMs.toFixed(0)} | ${m.cpuMs.toFixed(0)} | ${perDispatch} | ${inDawn.toFixed(0)} |`);
    const rest = device === 'gpu' ? 'waiting for the GPU and JavaScript' : "JavaScript: tfjs's op dispatch and autodiff, the backend's programs, uniforms and buffer pool";
    notes.push(`- ${device}: host ms per step inside Dawn's calls (fastest step): ${Object.entries(m.dawnMs).sort((a, b) => b[1] - a[1]).map(([call, ms]) => `${call} ${ms.toFixed(1)}`).join(', ')}; the other ${(m.stepMs - inDawn).toFixed(0)} ms are ${rest}.`);
    if (m.pipelines[1] > 0) notes.push(`- ${device}: the second step created ${Object.entries(m.latePipelines).map(([p, n]) => `${n} ${p}`).join(', ')} (a tensor that was host-resident in the first step, where its op ran on the CPU, is on the GPU from the second).`);
    if (m.tensorsLeaked) notes.push(`- ${device}: ${m.tensorsLeaked} tensors leaked per ${steps} steps.`);
    notes.push(`- ${device}: programs dispatched most per step: ${m.topPrograms.map(([p, n]) => `${p} ${n}`).join(', ')}.`);
    if (device === 'gpu') notes.push(`- gpu: ${againstPyTorch(m, steps)}`);
  }
  lines.push('', ...notes);
  lines.push('', `Machine: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.availableParallelism()} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, load average ${os.loadavg()[0].toFixed(1)} at the end; Node ${process.version}, tfjs ${tf.version.tfjs}.`);
  return lines.join('\n');
}

/**
 * The same step in PyTorch on CUDA (bench/reference/barlow_twins_step.py), where PyTorch sees a
 * CUDA device, and the ratio of images/s (the issue's goal: at least 0.3).
 */
function againstPyTorch(m: GpuMeasurement, steps: number): string {
  const variant = process.env.BENCH_GPU_MODEL ?? 'small/16';
  if (variant !== 'small/16') return `no PyTorch comparison: the reference step is ViT-S/16, this row ran ${variant}.`;
  const py = python();
  if (!py) return 'no PyTorch comparison: no python3 with torch on this machine.';
  const { image, batch, projector } = spec('gpu');
  const script = path.join(path.dirname(self), 'reference', 'barlow_twins_step.py');
  const args = [script, '--model', 'vit-small', '--device', 'cuda', '--batch', String(batch), '--image', String(image), '--projector', String(projector), '--steps', String(steps)];
  const r = spawnSync(py, args, { encoding: 'utf8', timeout: timeoutMin * 60_000 });
  let out: { images_per_s?: number; error?: string } = {};
  try {
    out = JSON.parse((r.stdout ?? '').trim().split('\n').pop() ?? '');
  } catch {
    out = { error: `exited with ${r.status}: ${(r.stderr ?? '').trim().split('\n').pop()}` };
  }
  if (out.images_per_s === undefined) return `no PyTorch comparison: ${out.error ?? 'no result'}.`;
  const ours = (batch * 1000) / m.stepMs;
  return `${ours.toFixed(1)} images/s against PyTorch ${out.images_per_s.toFixed(1)} on CUDA (the same step, \`${path.basename(script)} --model vit-small --device cuda\`): ratio ${(ours / out.images_per_s).toFixed(2)} (goal ≥ 0.3).`;
}

const argv = process.argv;
if (argv[1] && path.resolve(argv[1]) === self) {
  if (argv[2] === '--child') {
    let result: GpuMeasurement | { skipped: string } | { error: string };
    try {
      result = await measureGpu(argv[3] as DeviceName, Number(argv[4]));
    } catch (error) {
      result = { error: ((error as Error).message ?? String(error)).split('\n')[0] };
    }
    process.stdout.write(`\n${JSON.stringify(result)}\n`);
    process.exit(0);
  } else console.log(await bench());
}
