import { hasCappedHeap, Slots, type RunSession } from '@bt-platform/sdk';
import { BatchSource } from './BatchSource.js';
import { TrainingStep } from './TrainingStep.js';

/** What both tuners train with: the session's task and optimizer in training mode, and its training batches. */
export async function prepareTuning(session: RunSession): Promise<{ step: TrainingStep; source: BatchSource }> {
  const datamodule = await session.get(Slots.datamodule);
  const task = await session.get(Slots.task);
  const optimizer = await session.get(Slots.optimizer);
  // As a run does on a capped heap (wasm, native), so that the sizes found are the ones a run can use.
  if (hasCappedHeap(await session.get(Slots.backend))) optimizer.keepStateOnHost?.();
  await datamodule.setup?.('fit');
  task.model.train();
  return { step: new TrainingStep(task, optimizer), source: new BatchSource(datamodule) };
}
