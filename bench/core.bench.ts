/**
 * The core's own cost: steps/s of the toy task with no extra plugins versus with a plugin that
 * taps every hook and does nothing, and the tensor count and RSS over 200 steps.
 */
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { run } from '@bt-platform/core';
import { HookRecorder, toyPlugin } from '@bt-platform/sdk/testing';
import type { PluginDefinition } from '@bt-platform/sdk';

const STEPS = 200;

async function timed(plugins: PluginDefinition[]) {
  const samples: Array<{ tensors: number; rss: number }> = [];
  const probe: PluginDefinition = {
    name: 'probe',
    apply(hooks) {
      hooks.trainBatchEnd.tapPromise('probe', async () => {
        samples.push({ tensors: tf.memory().numTensors, rss: process.memoryUsage().rss });
      });
    },
  };
  const started = performance.now();
  await run({
    config: {
      backend: { use: 'cpu' },
      data: { use: 'toy', samples: STEPS * 8, valSamples: 8, batchSize: 8 },
      task: { use: 'toy-regression' },
      optimizer: { use: 'adamw', lr: 0.01 },
      trainer: { maxEpochs: 1 },
      runDir: mkdtempSync(path.join(os.tmpdir(), 'bt-bench-core-')),
    },
    plugins: [toyPlugin, probe, ...plugins],
    quiet: true,
  });
  const seconds = (performance.now() - started) / 1000;
  return { stepsPerSecond: STEPS / seconds, samples };
}

export default async function bench(): Promise<string> {
  await timed([]); // warm-up: module loading and backend start
  const idle = (): PluginDefinition => ({ ...new HookRecorder().plugin(), name: 'idle-taps' });
  // Alternate the variants and keep each one's best run, so JIT warm-up and noise favour neither.
  const runs: Array<{ bare: Awaited<ReturnType<typeof timed>>; tapped: Awaited<ReturnType<typeof timed>> }> = [];
  for (let i = 0; i < 3; i++) runs.push({ bare: await timed([]), tapped: await timed([idle()]) });
  const best = (k: 'bare' | 'tapped') => runs.map((r) => r[k]).reduce((a, b) => (b.stepsPerSecond > a.stepsPerSecond ? b : a));
  const bare = best('bare');
  const tapped = best('tapped');
  const first = bare.samples[1];
  const last = bare.samples.at(-1)!;
  return [
    '## Core: hook overhead and memory over 200 steps',
    '',
    'Toy task (MLP 4→8→1, batch 8, AdamW) on the `cpu` backend; 200 optimizer steps per run, best of 3 alternating runs per variant. The step itself is tiny, so this isolates the loop and hook cost.',
    '',
    '| variant | steps/s |',
    '|---|---|',
    `| no extra plugins | ${bare.stepsPerSecond.toFixed(0)} |`,
    `| a plugin tapping every hook (recording only) | ${tapped.stepsPerSecond.toFixed(0)} |`,
    '',
    `Tensors after step 2: ${first.tensors}, after step ${STEPS}: ${last.tensors}. RSS after step 2: ${(first.rss / 2 ** 20).toFixed(0)} MiB, after step ${STEPS}: ${(last.rss / 2 ** 20).toFixed(0)} MiB.`,
  ].join('\n');
}
