import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BtConfig } from '../config.js';
import type { PluginDefinition } from '../plugin.js';
import { HookRecorder } from './recorder.js';
import { toyPlugin } from './toy.js';

export * from './toy.js';
export * from './ToyImageDataModule.js';
export * from './recorder.js';

export interface TinyFitOptions {
  /** Plugin objects to load in addition to the built-ins and the toy plugin. */
  plugins?: PluginDefinition[];
  /** Config overrides; defaults train the toy task for 2 epochs on the `cpu` backend. */
  config?: BtConfig;
  command?: 'fit' | 'validate' | 'test';
  /** Where the run directory goes (default: a fresh temporary directory). */
  runDir?: string;
}

/**
 * Runs a tiny training with the given plugins and records every hook call: the harness for
 * testing a plugin without writing a model or a dataset. Needs `@bt-platform/core` installed.
 */
export async function runTinyFit(options: TinyFitOptions = {}) {
  const core = await import('@bt-platform/core');
  const recorder = new HookRecorder();
  const config: BtConfig = {
    seed: 1,
    backend: { use: 'cpu' },
    data: { use: 'toy' },
    task: { use: 'toy-regression' },
    optimizer: { use: 'sgd', lr: 0.05 },
    trainer: { maxEpochs: 2 },
    runDir: options.runDir ?? mkdtempSync(path.join(os.tmpdir(), 'bt-tiny-')),
    ...options.config,
  };
  const result = await core.run({
    config,
    command: options.command ?? 'fit',
    plugins: [toyPlugin, recorder.plugin(), ...(options.plugins ?? [])],
    quiet: true,
  });
  return { ...result, recorder };
}

export default toyPlugin;
