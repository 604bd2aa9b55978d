import type { z } from 'zod';
import type { Histogram, HookView } from './hooks.js';
import type { Log } from './log.js';
import type { Rng } from './rng.js';
import type { Slot } from './slots.js';
import type { CheckpointState, TrainerState } from './checkpoint.js';
import type { DeclarationOf } from './components.js';

/** What a component factory and a plugin's `apply` receive about the run. */
export interface RunContext {
  /** The whole validated config (read-only). */
  readonly config: Readonly<Record<string, unknown>>;
  /** Absolute path of the run directory (exists before components are created). */
  readonly runDir: string;
  /** Directory of the config file: relative paths in options resolve against it. */
  readonly configDir: string;
  /** A random stream of this component or plugin's own, derived from the run's seed. */
  readonly rng: Rng;
  readonly log: Log;
  readonly hooks: HookView;
  /** Resolves another slot's component (created once, on first request). */
  get<T>(slot: Slot<T>): Promise<T>;
  /** Resolves `p` against the config file's directory. */
  resolvePath(p: string): string;
  /** Hands scalars to every logger at the current step (the core calls the `metrics` hook and writes metrics.jsonl). Keys like `val/mIoU`. */
  logMetrics(values: Record<string, number>): Promise<void>;
  /** Hands an image already written into the run directory to every logger (the `media` hook). */
  logMedia(media: { key: string; path: string; caption?: string }): Promise<void>;
  /** Hands histograms (parameters, gradients) to every logger at the current step (the `histograms` hook). */
  logHistograms(values: Record<string, Histogram>): Promise<void>;
  /** Absolute path for a new media file of series `key` at the current step (`<runDir>/media/<key>/step-<n>.<ext>`); directories are created. */
  mediaPath(key: string, ext?: string): string;
  /** Adds a value to the run's summary.json; a pipeline's later stage can refer to it as `${stages.<stage>.<key>}`. */
  setSummary(key: string, value: string | number | boolean): void;
  /** Gathers the whole checkpoint state (trainer, model, optimizer, each stateful plugin's part via `saveCheckpoint`). */
  collectCheckpoint(): Promise<CheckpointState>;
  /** The trainer's position, updated as the run goes. */
  readonly trainer: Readonly<Pick<TrainerState, 'epoch' | 'globalStep' | 'batchInEpoch'>>;
}

/** A named factory for one slot. `options` is a zod object schema; defaults apply, unknown keys are errors. */
export interface ComponentDefinition<T, S extends z.ZodType = z.ZodType> {
  name: string;
  description?: string;
  options?: S;
  create(options: z.output<S>, ctx: RunContext): T | Promise<T>;
  /** What the component needs and provides with these options (without building it), for the checks `validate` and `run` make first. */
  declares?: DeclarationOf<T> | ((options: z.output<S>) => DeclarationOf<T>);
}

/** Hides the DI container: plugins register components by slot and name. */
export interface Registrar {
  component<T, S extends z.ZodType>(slot: Slot<T>, definition: ComponentDefinition<T, S>): void;
}

export interface PluginDefinition<S extends z.ZodType = z.ZodType> {
  /** Unique; used in error messages, checkpoint state and `bt-platform plugins`. */
  name: string;
  version?: string;
  description?: string;
  /** Options given in the config's `plugins` list as `{ use: <plugin>, ...options }`. */
  options?: S;
  /** Registers components (backbones, callbacks, …) under names for their slots. */
  register?(registrar: Registrar, options: z.output<S>): void;
  /** Extra CLI commands, e.g. `data synth` (`bt-platform data synth --out DIR`). */
  commands?: CommandDefinition[];
  /** Taps lifecycle hooks for the whole run, whatever components the config selects. */
  apply?(hooks: HookView, ctx: RunContext & { options: z.output<S> }): void | Promise<void>;
}

export interface CommandOption {
  /** Commander-style flags, e.g. `--out <dir>` or `--images <n>`. */
  flags: string;
  description: string;
  default?: string | boolean;
  required?: boolean;
}

/** Components built from a config without training, for commands such as predict or tune. */
export interface RunSession {
  /** A fresh run directory for the command's outputs. */
  readonly runDir: string;
  readonly config: Readonly<Record<string, unknown>>;
  readonly configDir: string;
  readonly log: Log;
  /** Creates (once) and returns the component selected for a slot; the backend is ready. */
  get<T>(slot: Slot<T>): Promise<T>;
  /** Loads a checkpoint's model weights into the task's model (strict), and returns the checkpoint. */
  loadWeights(file: string): Promise<CheckpointState>;
  /** Fires `teardown` and releases the datamodule. */
  close(): Promise<void>;
}

export interface CommandContext {
  cwd: string;
  log: Log;
  /** Builds the components of a config (`-c FILE` and `--set` overrides as the `run` command takes them). */
  openSession(options: { configFile?: string; overrides?: string[]; name?: string }): Promise<RunSession>;
}

/** A CLI command a plugin contributes. Words of `name` become nested commands (`data synth`). */
export interface CommandDefinition {
  name: string;
  description: string;
  /** Positional arguments in commander syntax, e.g. `<runDir>` or `[files...]`. */
  args?: string;
  options?: CommandOption[];
  /** Throw a BtError for user mistakes; the CLI prints it and sets the exit code. */
  run(args: string[], options: Record<string, unknown>, ctx: CommandContext): Promise<void>;
}

/** Identity helper: gives a plugin object full type inference. */
export function definePlugin<S extends z.ZodType = z.ZodType>(plugin: PluginDefinition<S>): PluginDefinition<S> {
  return plugin;
}

/** Identity helper for a component definition. */
export function defineComponent<T, S extends z.ZodType = z.ZodType>(definition: ComponentDefinition<T, S>): ComponentDefinition<T, S> {
  return definition;
}
