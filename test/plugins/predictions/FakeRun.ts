import { mkdirSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  createLifecycleHooks,
  Rng,
  type Callback,
  type ComponentDefinition,
  type PluginDefinition,
  type RunContext,
  type Slot,
} from '@bt-platform/sdk';

/**
 * A run without a trainer: real lifecycle hooks the test calls itself, slots the test fills,
 * and the metrics and media a callback hands to loggers. For unit tests of callback plugins.
 */
export class FakeRun {
  readonly hooks = createLifecycleHooks();
  readonly runDir: string;
  readonly metrics: Array<{ step: number; values: Record<string, number> }> = [];
  readonly media: Array<{ key: string; path: string; caption?: string; step: number }> = [];
  readonly summary: Record<string, string | number | boolean> = {};
  readonly trainer = { epoch: 0, globalStep: 0, batchInEpoch: 0 };
  private readonly slots = new Map<symbol, unknown>();

  constructor(readonly config: Record<string, unknown> = {}) {
    this.runDir = mkdtempSync(path.join(os.tmpdir(), 'bt-callback-'));
  }

  provide<T>(slot: Slot<T>, component: T): this {
    this.slots.set(slot.id, component);
    return this;
  }

  context(): RunContext {
    const run = this;
    return {
      config: this.config,
      runDir: this.runDir,
      configDir: this.runDir,
      rng: new Rng(1),
      log: { debug() {}, info() {}, warn() {}, error() {} },
      hooks: this.hooks,
      async get<T>(slot: Slot<T>): Promise<T> {
        if (!run.slots.has(slot.id)) throw new Error(`FakeRun: slot ${slot.key} not provided`);
        return run.slots.get(slot.id) as T;
      },
      resolvePath: (p: string) => path.resolve(this.runDir, p),
      logMetrics: async (values) => {
        this.metrics.push({ step: this.trainer.globalStep, values });
      },
      logMedia: async (media) => {
        this.media.push({ ...media, step: this.trainer.globalStep });
      },
      logHistograms: async () => {},
      mediaPath: (key: string, ext = 'png') => {
        const dir = path.join(this.runDir, 'media', key);
        mkdirSync(dir, { recursive: true });
        return path.join(dir, `step-${this.trainer.globalStep}.${ext}`);
      },
      setSummary: (key, value) => {
        this.summary[key] = value;
      },
      collectCheckpoint: async () =>
        this.hooks.saveCheckpoint.promise({
          format: 'bt-platform/1',
          trainer: { ...this.trainer, seed: 1, rng: [1, 2, 3, 4] },
          tensors: {},
          plugins: {},
          metrics: {},
        }),
      trainer: this.trainer,
    };
  }

  /** Registers `plugin`, validates `options` against component `name`'s schema, creates it and taps the hooks. */
  async callback(plugin: PluginDefinition, name: string, options: Record<string, unknown> = {}): Promise<Callback> {
    const definitions: Array<ComponentDefinition<unknown>> = [];
    plugin.register?.({ component: (_slot, definition) => void definitions.push(definition as ComponentDefinition<unknown>) }, {});
    const definition = definitions.find((d) => d.name === name);
    if (!definition) throw new Error(`FakeRun: ${plugin.name} registers no component "${name}"`);
    const parsed = definition.options ? definition.options.parse(options) : options;
    const callback = (await definition.create(parsed, this.context())) as Callback;
    await callback.apply(this.hooks);
    return callback;
  }
}
