import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { openSession } from '@bt-platform/core';
import { MODEL_PREFIX, Slots, writeCheckpoint, type CommandContext, type Log, type RunSession } from '@bt-platform/sdk';

/** A command context over the real core, with a log that records warnings. */
export function commandContext(cwd: string) {
  const warnings: string[] = [];
  const log: Log = { debug() {}, info() {}, warn: (m) => void warnings.push(m), error: (m) => void warnings.push(m) };
  const ctx: CommandContext = { cwd, log, openSession: (o) => openSession({ ...o, cwd, quiet: true }) };
  return { ctx, warnings };
}

/** A tiny ViT segmentation config (32×32 inputs) over a VOC-format set at `root`. */
export function writeSegmentationConfig(dir: string, root: string, extra: Record<string, unknown> = {}): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'seg.yaml');
  const config = {
    name: 'tiny-seg',
    seed: 3,
    runDir: path.join(dir, 'runs'),
    backend: { use: 'wasm' },
    data: { use: 'voc', root, mode: 'segmentation', imageSize: 32, batchSize: 4, workers: 0 },
    model: {
      backbone: { use: 'vit', variant: 'custom', imageSize: 32, patchSize: 8, embedDim: 32, depth: 1, heads: 2, mlpRatio: 2 },
      head: { use: 'linear' },
    },
    task: { use: 'segmentation' },
    optimizer: { use: 'adamw', lr: 1e-3 },
    ...extra,
  };
  writeFileSync(file, stringify(config));
  return file;
}

/** Saves the freshly initialised model of a config as a checkpoint. */
export async function writeInitialCheckpoint(configFile: string, file: string, overrides: string[] = []): Promise<void> {
  const session = await openSession({ configFile, overrides, quiet: true, name: 'init' });
  try {
    const task = await session.get(Slots.task);
    const tensors = Object.fromEntries(Object.entries(task.model.stateDict()).map(([k, v]) => [MODEL_PREFIX + k, v]));
    await writeCheckpoint(file, {
      format: 'bt-platform/1',
      trainer: { epoch: 1, batchInEpoch: 0, globalStep: 1, seed: 3, rng: [1, 2, 3, 4] },
      tensors,
      plugins: {},
      metrics: {},
    });
  } finally {
    await session.close();
  }
}

export async function withSession<T>(configFile: string, fn: (session: RunSession) => Promise<T>): Promise<T> {
  const session = await openSession({ configFile, quiet: true, name: 'check' });
  try {
    return await fn(session);
  } finally {
    await session.close();
  }
}
