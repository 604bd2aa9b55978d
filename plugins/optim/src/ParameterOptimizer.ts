import type * as tf from '@tensorflow/tfjs';
import type { NamedTensors, Optimizer, RawTensor } from '@bt-platform/sdk';
import { OptimizerState } from './OptimizerState.js';
import { ParamGroups, type ParamGroupConfig } from './ParamGroups.js';

/** What every optimizer here shares: the base LR, per-parameter group settings and saved per-parameter state. */
export abstract class ParameterOptimizer implements Optimizer {
  readonly lr: number;
  protected readonly groups: ParamGroups;
  protected readonly memory: OptimizerState;
  /** Where `attach` reports a group that matches no parameter (the run's log). */
  warn: (message: string) => void = () => {};

  constructor(options: ParamGroupConfig & { lr: number }, name: string) {
    this.lr = options.lr;
    this.groups = new ParamGroups(options);
    this.memory = new OptimizerState(name);
  }

  step(variables: Record<string, tf.Variable>, grads: NamedTensors, lr: number): void {
    try {
      this.update(variables, grads, lr);
    } finally {
      this.memory.release();
    }
  }

  /** Reports groups that match no parameter: a typo in a pattern would otherwise change nothing, unnoticed. */
  attach(parameters: Record<string, tf.Variable>): void {
    const names = Object.keys(parameters);
    const unmatched = this.groups.unmatched(names);
    if (unmatched.length === 0) return;
    // One name per top-level module, so the example shows the prefixes there are.
    const firstOfModule = new Map<string, string>();
    for (const name of names) {
      const module = name.split('.')[0];
      if (!firstOfModule.has(module)) firstOfModule.set(module, name);
    }
    const examples = [...firstOfModule.values()].slice(0, 4).join(', ');
    for (const { index, params } of unmatched)
      this.warn(
        `optimizer.groups[${index}].params ${JSON.stringify(params)} matches none of the model's ${names.length} parameters (e.g. ${examples}), so the group changes nothing. ` +
          'Fix: write patterns that match names like those (globs, `*` matches dots too; a pattern matches the whole name or any dotted suffix), or remove the group.',
      );
  }

  /** Keeps per-parameter state in host memory between steps (OptimizerState's `onHost`). */
  keepStateOnHost(): void {
    this.memory.onHost = true;
    this.memory.release();
  }

  /** One update of every parameter that has a gradient; state through `this.memory.slot`. */
  protected abstract update(variables: Record<string, tf.Variable>, grads: NamedTensors, lr: number): void;

  state(): { tensors: Record<string, RawTensor>; json: unknown } {
    return this.memory.save();
  }

  loadState(state: { tensors: Record<string, RawTensor>; json: unknown }): void {
    this.memory.load(state);
  }

  dispose(): void {
    this.memory.dispose();
  }
}
