/**
 * Memory of a training step for each reference config in configs/, at its own size (image size,
 * batch, projector), on the native backend (its tensors live in the 4 GB wasm heap): the peak of
 * tensor bytes in the heap during each step, the heap's size, the process's peak RSS and the time
 * per step, with `model.backbone.checkpointActivations` as the config leaves it (`auto`) and what
 * `auto` chose. Each config runs in its own process (the wasm heap never shrinks) for a few
 * training batches and one validation batch, without callbacks or loggers, on a generated
 * VOC-format set (the configs' data.root is replaced; quickstart generates its own), without the
 * pretrained weights a config may name (they change no shape).
 * Env: BENCH_MEMORY_CONFIGS (comma list of paths under configs/), BENCH_MEMORY_STEPS (training
 * batches, default 2), BENCH_MEMORY_BACKEND (default native), BENCH_MEMORY_SET (extra --set
 * overrides, `;`-separated), BENCH_TIMEOUT_MIN (per config, default 30).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { run } from '@bt-platform/core';
import { Slots, type Backend, type PluginDefinition } from '@bt-platform/sdk';

const self = fileURLToPath(import.meta.url);
const root = path.resolve(path.dirname(self), '..');
const bin = path.join(root, 'core', 'bin', 'bt-platform.js');

interface StepMemory {
  /** Peak tensor bytes in the heap during the step (the backend's own count). */
  peak: number;
  heap: number;
  seconds: number;
}

interface Measurement {
  config: string;
  batch: string;
  steps: StepMemory[];
  /** Peak resident set size of the process, bytes. */
  rss: number;
  recompute: string;
  error?: string;
}

const GB = 1024 ** 3;
const gb = (bytes: number) => `${(bytes / GB).toFixed(2)} GB`;

/** Records the heap's peak around every training batch. */
function probe(steps: StepMemory[]): PluginDefinition {
  let backend: Backend | undefined;
  let started = 0;
  return {
    name: 'memory-probe',
    async apply(hooks, ctx) {
      hooks.trainBatchStart.tap('memory-probe', () => {
        started = performance.now();
        backend?.resetMemoryPeak?.();
      });
      hooks.trainBatchEnd.tapPromise('memory-probe', async () => {
        const memory = backend?.memory?.();
        steps.push({ peak: memory?.peak ?? NaN, heap: (memory as { heap?: number } | undefined)?.heap ?? NaN, seconds: (performance.now() - started) / 1000 });
      });
      hooks.setup.tapPromise('memory-probe', async () => {
        backend = await ctx.get(Slots.backend);
      });
    },
  };
}

function describeBatch(config: Record<string, unknown>): string {
  const data = config.data as { batchSize: number; imageSize: number; mode?: string };
  const views = data.mode === 'barlow-twins' ? ' × 2 views' : '';
  const projector = (config.task as { projectorDim?: number }).projectorDim;
  return `${data.batchSize}${views} at ${data.imageSize} px${projector ? `, projector ${projector}` : ''}`;
}

/** One config in this process (`--child config dataRoot`): JSON on stdout. */
async function child(config: string, dataRoot: string): Promise<void> {
  const steps: StepMemory[] = [];
  const stepsWanted = Number(process.env.BENCH_MEMORY_STEPS) || 2;
  const quickstart = path.basename(config) === 'quickstart.yaml';
  const overrides = [
    `backend.use=${process.env.BENCH_MEMORY_BACKEND ?? 'native'}`,
    `runDir=${mkdtempSync(path.join(os.tmpdir(), 'bt-memory-'))}`,
    ...(quickstart ? [] : [`data.root=${dataRoot}`]),
    // Pretrained weights change no shape: configs that download them run from a random start here.
    'model.backbone.weights=null',
    'trainer.maxEpochs=1',
    `trainer.limitTrainBatches=${stepsWanted}`,
    'trainer.limitValBatches=1',
    // The quickstart's fine-tuning stage starts from the pre-training stage's checkpoint.
    quickstart ? 'callbacks=[{use: checkpoint}]' : 'callbacks=[]',
    'loggers=[]',
    ...(process.env.BENCH_MEMORY_SET ?? '').split(';').filter(Boolean),
  ];
  const result: Measurement = { config, batch: '', steps, rss: 0, recompute: '' };
  try {
    const done = await run({ configFile: path.join(root, 'configs', config), overrides, plugins: [probe(steps)], quiet: true });
    const dirs = done.stages ? done.stages.map((s) => s.runDir) : [done.runDir];
    const configs = dirs.map((dir) => parse(readFileSync(path.join(dir, 'config.yaml'), 'utf8')) as Record<string, unknown>);
    result.batch = configs.map(describeBatch).join('; ');
    const log = dirs.map((dir) => readFileSync(path.join(dir, 'log.txt'), 'utf8')).join('\n');
    result.recompute = /recomputing activations/.test(log) ? 'on (auto)' : 'off';
  } catch (error) {
    result.error = ((error as Error).message ?? String(error)).split('\n')[0];
  }
  result.rss = process.resourceUsage().maxRSS * 1024;
  process.stdout.write(`\n${JSON.stringify(result)}\n`);
  process.exit(0);
}

function inChild(config: string, dataRoot: string): Measurement {
  const minutes = Number(process.env.BENCH_TIMEOUT_MIN) || 30;
  const r = spawnSync(process.execPath, ['--import', 'tsx', self, '--child', config, dataRoot], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: minutes * 60_000, maxBuffer: 1 << 26 });
  try {
    return JSON.parse((r.stdout ?? '').trim().split('\n').pop() ?? '') as Measurement;
  } catch {
    const why = r.error && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT' ? `stopped after ${minutes} min` : r.signal ? `killed by ${r.signal}` : `exited with ${r.status}`;
    return { config, batch: '', steps: [], rss: 0, recompute: '', error: why };
  }
}

function referenceConfigs(): string[] {
  const wanted = process.env.BENCH_MEMORY_CONFIGS?.split(',').filter(Boolean);
  if (wanted) return wanted;
  const dirs = ['barlow-twins', 'segmentation'];
  return ['quickstart.yaml', ...dirs.flatMap((d) => readdirSync(path.join(root, 'configs', d)).filter((f) => f.endsWith('.yaml')).sort().map((f) => `${d}/${f}`))];
}

export default async function bench(): Promise<string> {
  const dataRoot = path.join(os.tmpdir(), 'bt-memory-voc-288');
  if (!existsSync(path.join(dataRoot, 'VOCdevkit'))) {
    // 144 training images: two batches of the largest reference batch (64 pairs), incomplete ones being dropped.
    const made = spawnSync(process.execPath, [bin, 'data', 'synth', '--out', dataRoot, '--images', '288', '--min-size', '240', '--max-size', '320'], { cwd: root, stdio: 'inherit' });
    if (made.status !== 0) throw new Error('could not generate the VOC-format data set');
  }
  const rows: string[] = [];
  for (const config of referenceConfigs()) {
    process.stderr.write(`  ${config}…\n`);
    const m = inChild(config, dataRoot);
    const peak = Math.max(...m.steps.map((s) => s.peak));
    const heap = Math.max(...m.steps.map((s) => s.heap));
    const perStep = m.steps.length ? m.steps.map((s) => gb(s.peak)).join(', ') : '–';
    const seconds = m.steps.length ? (m.steps.reduce((t, s) => t + s.seconds, 0) / m.steps.length).toFixed(0) : '–';
    const result = m.error ? `**does not fit**: ${m.error.replace(/\|/g, '\\|')}` : 'trains';
    rows.push(`| \`${config}\` | ${m.batch || '–'} | ${m.recompute || '–'} | ${perStep} | ${m.steps.length ? gb(peak) : '–'} | ${m.steps.length ? gb(heap) : '–'} | ${m.rss ? gb(m.rss) : '–'} | ${seconds} | ${result} |`);
  }
  return [
    '## Memory of a training step (reference configs, native backend)',
    '',
    `Each reference config at its own size on the \`${process.env.BENCH_MEMORY_BACKEND ?? 'native'}\` backend, whose tensors live in the 32-bit wasm heap (4 GB at most): ${Number(process.env.BENCH_MEMORY_STEPS) || 2} training batches and one validation batch on a generated VOC-format set, callbacks and loggers off, \`checkpointActivations\` left at \`auto\`. "Peak per step" is the most tensor data the heap held during each training batch (forward, backward, optimizer), as the heap counts it; "heap" is the size the wasm memory grew to; "peak RSS" is the whole process, which also holds the recomputed blocks' inputs (kept outside the heap) and the data pipeline.`,
    '',
    '| config | batch | recompute | peak per step | peak | heap | peak RSS | s/step | result |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

const argv = process.argv;
if (argv[1] && path.resolve(argv[1]) === self && argv[2] === '--child') await child(argv[3], argv[4]);
