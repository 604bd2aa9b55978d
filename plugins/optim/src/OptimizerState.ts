import * as tf from '@tensorflow/tfjs';
import { BtError, type RawTensor } from '@bt-platform/sdk';

/**
 * Per-parameter slot variables (moments, momentum buffers) and step counts. Slots are created once,
 * on a parameter's first update, and kept as variables that later steps assign into, so a step
 * allocates no lasting tensors. Saved tensors are named `<param>.<slot>` in tfjs layout.
 *
 * With `onHost` (backends whose tensors share a capped heap: the 4 GB wasm heap), slots live in host
 * memory between steps: a parameter's slots become variables when its update asks for them and go
 * back to the host when the next parameter's update starts or the step ends (`release`), so the heap
 * holds one parameter's state at a time (LARS's momentum of a ResNet-50 with an 8192-d projector:
 * 0.7 GB). The copies are exact.
 */
export class OptimizerState {
  private readonly slots = new Map<string, tf.Variable>();
  private readonly host = new Map<string, { values: Float32Array; shape: number[] }>();
  private borrowedFor?: string;
  readonly steps = new Map<string, number>();
  onHost = false;

  constructor(private readonly owner: string) {}

  slot(param: string, slot: string, like: tf.Variable): tf.Variable {
    if (this.onHost && this.borrowedFor !== param) {
      this.release();
      this.borrowedFor = param;
    }
    const key = `${param}.${slot}`;
    let v = this.slots.get(key);
    if (!v) {
      const stored = this.host.get(key);
      const initial = stored ? tf.tensor(stored.values, stored.shape, 'float32') : tf.zerosLike(like);
      v = tf.variable(initial, false);
      initial.dispose();
      this.slots.set(key, v);
      this.host.delete(key);
    }
    return v;
  }

  /** With `onHost`: moves the slots now on the heap back to host memory. */
  release(): void {
    this.borrowedFor = undefined;
    if (!this.onHost) return;
    for (const [key, v] of this.slots) {
      this.host.set(key, { values: (v.dataSync() as Float32Array).slice(), shape: [...v.shape] });
      v.dispose();
    }
    this.slots.clear();
  }

  /** Increments and returns the step count of `param` (1 on its first update). */
  nextStep(param: string): number {
    const t = (this.steps.get(param) ?? 0) + 1;
    this.steps.set(param, t);
    return t;
  }

  save(): { tensors: Record<string, RawTensor>; json: unknown } {
    const tensors: Record<string, RawTensor> = {};
    for (const [key, { values, shape }] of this.host) tensors[key] = { dtype: 'float32', shape: [...shape], data: Float32Array.from(values) };
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
      if (this.onHost) {
        this.host.set(key, { values: Float32Array.from(raw.data), shape: [...raw.shape] });
        continue;
      }
      const initial = tf.tensor(raw.data, raw.shape, 'float32');
      this.slots.set(key, tf.variable(initial, false));
      initial.dispose();
    }
    for (const [param, t] of Object.entries(json.steps ?? {})) this.steps.set(param, t);
  }

  dispose(): void {
    for (const v of this.slots.values()) v.dispose();
    this.slots.clear();
    this.host.clear();
    this.borrowedFor = undefined;
    this.steps.clear();
  }
}
