import type * as tf from '@tensorflow/tfjs';
import type { NamedTensors, Optimizer, RawTensor } from '@bt-platform/sdk';
import { OptimizerState } from './OptimizerState.js';
import { ParamGroups, type ParamGroupConfig } from './ParamGroups.js';

/** What every optimizer here shares: the base LR, per-parameter group settings and saved per-parameter state. */
export abstract class ParameterOptimizer implements Optimizer {
  readonly lr: number;
  protected readonly groups: ParamGroups;
  protected readonly memory: OptimizerState;
  /** Where a group that matches no parameter is reported, once (the run's log). */
  warn: (message: string) => void = () => {};
  private groupsChecked = false;

  constructor(options: ParamGroupConfig & { lr: number }, name: string) {
    this.lr = options.lr;
    this.groups = new ParamGroups(options);
    this.memory = new OptimizerState(name);
  }

  step(variables: Record<string, tf.Variable>, grads: NamedTensors, lr: number): void {
    if (!this.groupsChecked) {
      this.groupsChecked = true;
      this.reportUnmatchedGroups(Object.keys(variables));
    }
    try {
      this.update(variables, grads, lr);
    } finally {
      this.memory.release();
    }
  }

  /** A typo in a group's pattern would otherwise leave every parameter at the base settings unnoticed. */
  private reportUnmatchedGroups(names: string[]): void {
    // One name per top-level module, so the example shows the prefixes there are.
    const prefix = (name: string) => name.split('.')[0];
    const examples = names.filter((name, i) => names.findIndex((other) => prefix(other) === prefix(name)) === i).slice(0, 4).join(', ');
    for (const { index, params } of this.groups.unmatched(names))
      this.warn(
        `optimizer.groups[${index}].params ${JSON.stringify(params)} matches none of the ${names.length} parameters being trained (e.g. ${examples}), so the group changes nothing. ` +
          'Fix the pattern: globs over the dotted names (`*` matches dots too), e.g. "backbone.*", matched against the whole name or any dotted suffix.',
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
