import * as tf from '@tensorflow/tfjs';
import type { Batch, NamedTensors, Optimizer, Task } from '@bt-platform/sdk';

/**
 * One optimizer step as the trainer takes it (gradients of the task's training loss by
 * `tf.variableGrads`, then the optimizer's update), without hooks, accumulation or clipping.
 * Every tensor it creates is gone when it returns; the batch stays the caller's.
 */
export class TrainingStep {
  private step = 0;

  constructor(
    private readonly task: Task,
    private readonly optimizer: Optimizer,
  ) {}

  /** Returns the loss before the update (NaN/Infinity included: the caller decides). */
  run(batch: Batch, lr: number): number {
    const variables = this.task.model.trainableVariables();
    const ctx = { epoch: 0, batchIdx: this.step, globalStep: this.step, training: true };
    const { value, grads } = tf.variableGrads(() => this.task.trainingStep(batch, ctx).loss, Object.values(variables));
    const names = new Map(Object.entries(variables).map(([name, v]) => [v.name, name]));
    const named: NamedTensors = {};
    for (const [id, g] of Object.entries(grads)) named[names.get(id) ?? id] = g;
    try {
      const loss = value.dataSync()[0];
      if (Number.isFinite(loss)) this.optimizer.step(variables, named, lr);
      this.step++;
      return loss;
    } finally {
      value.dispose();
      tf.dispose(Object.values(named));
    }
  }
}
