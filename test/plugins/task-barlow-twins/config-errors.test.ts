import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run } from '@bt-platform/core';
import { ConfigError, MODEL_PREFIX, Rng, Slots, writeCheckpoint, type Backbone, type ComponentDefinition } from '@bt-platform/sdk';
import { toyPlugin } from '@bt-platform/sdk/testing';
import vitPlugin from '@bt-platform/plugin-backbone-vit';

const tinyVit = (embedDim: number) => ({ use: 'vit', variant: 'custom', imageSize: 16, patchSize: 8, embedDim, depth: 1, heads: 2 });

async function vitStateDict(embedDim: number) {
  let vit: ComponentDefinition<Backbone> | undefined;
  vitPlugin.register!({ component: (slot, d) => void (slot === Slots.backbone && d.name === 'vit' && (vit = d as ComponentDefinition<Backbone>)) }, {});
  const { use: _use, ...options } = tinyVit(embedDim);
  const backbone = await vit!.create(vit!.options!.parse(options), { rng: new Rng(1), log: console, resolvePath: (p: string) => p } as never);
  const state = backbone.stateDict();
  backbone.dispose();
  return state;
}

/** Invalid task settings stop a run before training, as config errors (exit code 2) that say what to change. */
describe('Barlow Twins config errors through the core', () => {
  it.each([[0], [-5e-3]])('lambda %p is refused', async (lambda) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bt-lambda-'));
    const error = await run({
      cwd: dir,
      quiet: true,
      plugins: [toyPlugin],
      config: {
        runDir: dir,
        backend: { use: 'cpu' },
        data: { use: 'toy-images', mode: 'barlow-twins' },
        model: { backbone: tinyVit(16) },
        task: { use: 'barlow-twins', projectorDim: 16, lambda },
        optimizer: { use: 'adamw' },
      },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).exitCode).toBe(2);
    expect((error as ConfigError).message).toContain(`\`lambda\` must be > 0 (got ${lambda})`);
  });
});

describe('segmentation config errors through the core', () => {
  it('refuses a Barlow Twins checkpoint whose backbone does not match', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bt-ckpt-mismatch-'));
    const file = path.join(dir, 'pretrained.safetensors');
    const tensors = Object.fromEntries(Object.entries(await vitStateDict(24)).map(([n, t]) => [`${MODEL_PREFIX}backbone.${n}`, t]));
    await writeCheckpoint(file, { format: 'bt-platform/1', trainer: { epoch: 1, batchInEpoch: 0, globalStep: 1, seed: 0, rng: [1, 2, 3, 4] }, tensors, plugins: {}, metrics: {} });
    const error = await run({
      cwd: dir,
      quiet: true,
      plugins: [toyPlugin],
      config: {
        runDir: dir,
        backend: { use: 'cpu' },
        data: { use: 'toy-images' },
        model: { backbone: tinyVit(16), head: { use: 'linear', numClasses: 3 } },
        task: { use: 'segmentation', numClasses: 3, backboneCheckpoint: 'pretrained.safetensors' },
        optimizer: { use: 'adamw' },
      },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe('WEIGHTS_MISMATCH');
    expect((error as ConfigError).message).toMatch(/task.backboneCheckpoint: the backbone in .*pretrained.safetensors does not match the configured backbone: shape mismatches: cls_token expected \[1,1,16\] got \[1,1,24\]/);
  });
});
