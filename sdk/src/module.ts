import * as tf from '@tensorflow/tfjs';
import { SyncHook } from 'tapable';
import { BtError } from './errors.js';
import type { RawTensor } from './safetensors.js';

/**
 * How a parameter is laid out here versus in PyTorch. State dicts use PyTorch's layout and names
 * so checkpoints load in PyTorch and timm/torchvision weights load here.
 * - `linear`: here [in, out], PyTorch [out, in].
 * - `conv2d`: here HWIO [kh, kw, in, out], PyTorch OIHW [out, in, kh, kw].
 * - `depthwise`: here [kh, kw, channels, 1], PyTorch [channels, 1, kh, kw].
 * - `same`: identical (biases, norms, embeddings, tokens).
 */
export type ParamLayout = 'same' | 'linear' | 'conv2d' | 'depthwise';

export interface ForwardEvent {
  module: Module;
  /** Dotted path of the module inside the model ('' for the root). */
  name: string;
  inputs: unknown[];
  /** Alive only during the call: read it, or tf.keep a clone. */
  output: unknown;
}

interface Entry {
  variable: tf.Variable;
  layout: ParamLayout;
  buffer: boolean;
}

export interface LoadReport {
  missing: string[];
  unexpected: string[];
  mismatched: Array<{ name: string; expected: number[]; got: number[] }>;
  loaded: string[];
}

export interface LoadOptions {
  /** Throw on any missing, unexpected or mismatched key (default true). */
  strict?: boolean;
  /** Where the weights came from, for messages. */
  source?: string;
}

let replaying = 0;

/**
 * Runs `fn` as a replay of a forward pass that already ran (activation recomputation in the
 * backward pass): forward hooks stay silent, so observers see each forward once, and stateful
 * layers (BatchNorm's running statistics) do not update twice.
 */
export function replayForward<T>(fn: () => T): T {
  replaying++;
  try {
    return fn();
  } finally {
    replaying--;
  }
}

/** Whether a forward pass is being replayed (see `replayForward`). */
export function isReplayingForward(): boolean {
  return replaying > 0;
}

const TO_TORCH: Record<ParamLayout, number[] | null> = { same: null, linear: [1, 0], conv2d: [3, 2, 0, 1], depthwise: [2, 3, 0, 1] };
const FROM_TORCH: Record<ParamLayout, number[] | null> = { same: null, linear: [1, 0], conv2d: [2, 3, 1, 0], depthwise: [2, 3, 0, 1] };

function permute(shape: number[], perm: number[] | null): number[] {
  return perm ? perm.map((p) => shape[p]) : [...shape];
}

/**
 * Base class of every model part: named children and parameters, train/eval mode, PyTorch-style
 * state dicts, and a forward hook on every module so callbacks can observe activations without
 * touching model code. Subclasses implement `forward`; callers use `call`, which fires the hook
 * only when someone listens.
 */
export abstract class Module {
  readonly forwardHook = new SyncHook<[ForwardEvent]>(['event']);
  training = true;
  /** Dotted path inside the root model, set when the module is attached. */
  path = '';
  private readonly children = new Map<string, Module>();
  private readonly entries = new Map<string, Entry>();

  abstract forward(...inputs: any[]): any;

  /**
   * Taps `forwardHook` until the returned function is called. Some modules compute differently
   * while observed (a ViT's attention materialises its probabilities instead of the fused op,
   * which rounds differently), so an observer that needs only some passes taps for just those and
   * leaves training's numbers as they are without it.
   */
  observeForward(name: string, listener: (event: ForwardEvent) => void): () => void {
    const hook = this.forwardHook;
    hook.tap(name, listener);
    const tap = hook.taps.find((t) => t.fn === listener)!;
    return () => {
      const index = hook.taps.indexOf(tap);
      if (index < 0) return;
      hook.taps.splice(index, 1);
      // tapable compiles `call` from its taps and offers no untap; this makes it recompile.
      (hook as unknown as { _resetCompilation(): void })._resetCompilation();
    };
  }

  /** Runs `forward` and notifies forward-hook listeners. */
  call<M extends Module>(this: M, ...inputs: Parameters<M['forward']>): ReturnType<M['forward']> {
    const output = this.forward(...inputs);
    if (replaying === 0 && this.forwardHook.isUsed()) this.forwardHook.call({ module: this, name: this.path, inputs, output });
    return output;
  }

  protected registerModule<M extends Module>(name: string, module: M): M {
    if (this.children.has(name) || this.entries.has(name)) throw new Error(`Module name "${name}" registered twice in ${this.describe()}`);
    this.children.set(name, module);
    module.setPath(this.path ? `${this.path}.${name}` : name);
    return module;
  }

  protected registerParameter(name: string, initial: tf.Tensor, layout: ParamLayout = 'same', trainable = true): tf.Variable {
    return this.addEntry(name, initial, layout, false, trainable);
  }

  /** Non-trainable state saved in state dicts (BatchNorm running statistics). */
  protected registerBuffer(name: string, initial: tf.Tensor, layout: ParamLayout = 'same'): tf.Variable {
    return this.addEntry(name, initial, layout, true, false);
  }

  private addEntry(name: string, initial: tf.Tensor, layout: ParamLayout, buffer: boolean, trainable: boolean): tf.Variable {
    if (this.children.has(name) || this.entries.has(name)) throw new Error(`Parameter name "${name}" registered twice in ${this.describe()}`);
    const variable = tf.variable(initial, trainable);
    initial.dispose();
    this.entries.set(name, { variable, layout, buffer });
    return variable;
  }

  private setPath(path: string): void {
    this.path = path;
    for (const [name, child] of this.children) child.setPath(`${path}.${name}`);
  }

  private describe(): string {
    return `${this.constructor.name}${this.path ? ` "${this.path}"` : ''}`;
  }

  /** Every module below this one, this one first under ''. */
  namedModules(prefix = ''): Array<[string, Module]> {
    const out: Array<[string, Module]> = [[prefix, this]];
    for (const [name, child] of this.children) out.push(...child.namedModules(prefix ? `${prefix}.${name}` : name));
    return out;
  }

  getModule(path: string): Module {
    const found = this.namedModules().find(([name]) => name === path);
    if (!found) {
      const names = this.namedModules().map(([n]) => n).filter(Boolean);
      throw new BtError('RUNTIME', `No module "${path}" in ${this.describe()}. Modules: ${names.slice(0, 30).join(', ')}${names.length > 30 ? ', …' : ''}`);
    }
    return found[1];
  }

  private namedEntries(prefix = ''): Array<[string, Entry]> {
    const out: Array<[string, Entry]> = [];
    for (const [name, entry] of this.entries) out.push([prefix ? `${prefix}.${name}` : name, entry]);
    for (const [name, child] of this.children) out.push(...child.namedEntries(prefix ? `${prefix}.${name}` : name));
    return out;
  }

  /** Names of every parameter and buffer, as in `stateDict()`, without copying any tensor. */
  stateKeys(): string[] {
    return this.namedEntries().map(([name]) => name);
  }

  /** Parameters (not buffers) by dotted name. */
  namedParameters(): Array<[string, tf.Variable]> {
    return this.namedEntries()
      .filter(([, e]) => !e.buffer)
      .map(([n, e]) => [n, e.variable]);
  }

  /** Parameters that receive gradients (not frozen). */
  trainableVariables(): Record<string, tf.Variable> {
    const out: Record<string, tf.Variable> = {};
    for (const [name, v] of this.namedParameters()) if (v.trainable) out[name] = v;
    return out;
  }

  /**
   * Whether this module's output for one sample depends on the other samples of its batch
   * (BatchNorm with batch statistics). Tasks may then not run several inputs through it as one
   * batch. Default: whether any submodule does; a module that mixes samples in its own forward
   * overrides it.
   */
  mixesSamples(): boolean {
    for (const child of this.children.values()) if (child.mixesSamples()) return true;
    return false;
  }

  parameterCount(): number {
    return this.namedParameters().reduce((n, [, v]) => n + v.size, 0);
  }

  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Stops (or restarts) gradient updates of every parameter below this module. */
  freeze(frozen = true): this {
    for (const [, v] of this.namedParameters()) v.trainable = !frozen;
    return this;
  }

  /** Parameters and buffers in PyTorch layout, by PyTorch name. */
  stateDict(): Record<string, RawTensor> {
    const out: Record<string, RawTensor> = {};
    for (const [name, entry] of this.namedEntries()) {
      const torch = tf.tidy(() => {
        const perm = TO_TORCH[entry.layout];
        return perm ? tf.transpose(entry.variable, perm) : entry.variable.clone();
      });
      const data = torch.dataSync();
      out[name] = {
        dtype: entry.variable.dtype === 'int32' ? 'int32' : 'float32',
        shape: torch.shape,
        data: entry.variable.dtype === 'int32' ? Int32Array.from(data) : Float32Array.from(data),
      };
      torch.dispose();
    }
    return out;
  }

  /** Loads PyTorch-layout tensors by name; reports (strict: throws on) missing, unexpected and mismatched keys. */
  loadStateDict(state: Record<string, RawTensor>, options: LoadOptions = {}): LoadReport {
    const strict = options.strict ?? true;
    const entries = new Map(this.namedEntries());
    const report: LoadReport = { missing: [], unexpected: [], mismatched: [], loaded: [] };
    for (const name of Object.keys(state)) if (!entries.has(name)) report.unexpected.push(name);
    const assignments: Array<[Entry, RawTensor]> = [];
    for (const [name, entry] of entries) {
      const raw = state[name];
      if (!raw) {
        report.missing.push(name);
        continue;
      }
      const expected = permute(entry.variable.shape, TO_TORCH[entry.layout]);
      if (expected.length !== raw.shape.length || expected.some((d, i) => d !== raw.shape[i])) {
        report.mismatched.push({ name, expected, got: raw.shape });
        continue;
      }
      assignments.push([entry, raw]);
      report.loaded.push(name);
    }
    const problems = report.missing.length + report.unexpected.length + report.mismatched.length;
    if (strict && problems > 0) throw weightsMismatch(report, options.source ?? 'state dict', this.describe());
    for (const [entry, raw] of assignments) {
      tf.tidy(() => {
        const t = tf.tensor(raw.data, raw.shape, entry.variable.dtype);
        const perm = FROM_TORCH[entry.layout];
        entry.variable.assign(perm ? tf.transpose(t, perm) : t);
      });
    }
    return report;
  }

  dispose(): void {
    for (const [, entry] of this.namedEntries()) entry.variable.dispose();
  }
}

function weightsMismatch(report: LoadReport, source: string, target: string): BtError {
  const first = (items: string[]) => items.slice(0, 8).join(', ') + (items.length > 8 ? `, … (${items.length} in all)` : '');
  const lines = [`Weights from ${source} do not match ${target}:`];
  if (report.missing.length) lines.push(`  missing keys: ${first(report.missing)}`);
  if (report.unexpected.length) lines.push(`  unexpected keys: ${first(report.unexpected)}`);
  if (report.mismatched.length)
    lines.push(`  shape mismatches: ${first(report.mismatched.map((m) => `${m.name} expected [${m.expected}] got [${m.got}]`))}`);
  return new BtError('WEIGHTS_MISMATCH', lines.join('\n'), {
    hint: 'Use weights converted from the same architecture and variant, or set `strict: false` to load what matches and skip the rest.',
  });
}

/** Children indexed '0', '1', … as in PyTorch's ModuleList. */
export class ModuleList<M extends Module = Module> extends Module {
  readonly items: M[];

  constructor(items: M[]) {
    super();
    this.items = items;
    items.forEach((m, i) => this.registerModule(String(i), m));
  }

  forward(): never {
    throw new Error('ModuleList has no forward; iterate over items.');
  }
}

/** Applies its children in order. */
export class Sequential extends Module {
  readonly items: Module[];

  constructor(items: Module[]) {
    super();
    this.items = items;
    items.forEach((m, i) => this.registerModule(String(i), m));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return this.items.reduce((h, m) => m.call(h) as tf.Tensor, x);
  }
}
