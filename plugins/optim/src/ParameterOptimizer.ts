import type * as tf from '@tensorflow/tfjs';
import type { NamedTensors, Optimizer, RawTensor } from '@bt-platform/sdk';
import { OptimizerState } from './OptimizerState.js';
import { ParamGroups, type ParamGroupConfig } from './ParamGroups.js';

/** What every optimizer here shares: the base LR, per-parameter group settings and saved per-parameter state. */
export abstract class ParameterOptimizer implements Optimizer {
  readonly lr: number;
  protected readonly groups: ParamGroups;
  protected readonly memory: OptimizerState;

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
