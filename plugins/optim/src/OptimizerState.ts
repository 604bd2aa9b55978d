import * as tf from '@tensorflow/tfjs';
import { BtError, type RawTensor } from '@bt-platform/sdk';

/**
 * Per-parameter slot variables (moments, momentum buffers) and step counts. Slots are created once,
 * on a parameter's first update, and kept as variables that later steps assign into, so a step
 * allocates no lasting tensors. Saved tensors are named `<param>.<slot>` in tfjs layout.
 */
export class OptimizerState {
  private readonly slots = new Map<string, tf.Variable>();
  readonly steps = new Map<string, number>();

  constructor(private readonly owner: string) {}

  slot(param: string, slot: string, like: tf.Variable): tf.Variable {
    const key = `${param}.${slot}`;
    let v = this.slots.get(key);
    if (!v) {
      const zeros = tf.zerosLike(like);
      v = tf.variable(zeros, false);
      zeros.dispose();
      this.slots.set(key, v);
    }
    return v;
  }

  /** Increments and returns the step count of `param` (1 on its first update). */
  nextStep(param: string): number {
    const t = (this.steps.get(param) ?? 0) + 1;
    this.steps.set(param, t);
    return t;
  }

  save(): { tensors: Record<string, RawTensor>; json: unknown } {
    const tensors: Record<string, RawTensor> = {};
    for (const [key, v] of this.slots) {
      tensors[key] = { dtype: 'float32', shape: [...v.shape], data: Float32Array.from(v.dataSync()) };
    }
    return { tensors, json: { optimizer: this.owner, steps: Object.fromEntries(this.steps) } };
  }

  load(state: { tensors: Record<string, RawTensor>; json: unknown }): void {
    const json = (state.json ?? {}) as { optimizer?: string; steps?: Record<string, number> };
    if (json.optimizer !== undefined && json.optimizer !== this.owner) {
      throw new BtError('CHECKPOINT_MISMATCH', `The checkpoint's optimizer state is from "${json.optimizer}", but the config selects "${this.owner}".`, {
        hint: `Resume with optimizer "${json.optimizer}", or start a new run from the checkpoint's weights instead of resuming.`,
      });
    }
    this.dispose();
    for (const [key, raw] of Object.entries(state.tensors)) {
      const initial = tf.tensor(raw.data, raw.shape, 'float32');
      this.slots.set(key, tf.variable(initial, false));
      initial.dispose();
    }
    for (const [param, t] of Object.entries(json.steps ?? {})) this.steps.set(param, t);
  }

  dispose(): void {
    for (const v of this.slots.values()) v.dispose();
    this.slots.clear();
    this.steps.clear();
  }
}
