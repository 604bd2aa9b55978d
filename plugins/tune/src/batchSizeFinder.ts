import * as tf from '@tensorflow/tfjs';
import { BtError, Slots, type Backend, type RunSession } from '@bt-platform/sdk';
import { peakTensorBytes, releaseAbandonedTape } from './peakTensorBytes.js';
import { prepareTuning } from './prepareTuning.js';

export interface BatchSizeOptions {
  start: number;
  maxSize: number;
  /** Training steps timed at each size (after one untimed warm-up step). */
  steps: number;
  /** Budget in bytes; undefined: grow until a step fails or `maxSize`. */
  maxMemory?: number;
  /** What the budget is compared with: the peak of tensor memory during a step, the process RSS, or the larger. */
  measure: 'tensors' | 'rss' | 'both';
  lr: number;
}

export interface BatchSizeTrial {
  batchSize: number;
  /** Peak tensor bytes during a step: the wasm heap's own count on wasm and native, tfjs's count elsewhere. */
  peakBytes: number;
  /** Process resident set size after the steps. */
  rss: number;
  imagesPerSecond: number;
  /** `fits`, `over budget` or `failed: <reason>`. */
  status: string;
}

export interface BatchSizeResult {
  trials: BatchSizeTrial[];
  /** The largest size that fits; undefined if even `start` does not. */
  best?: number;
  stopped: string;
}

/** tfjs and native backends word allocation failures differently; these are the ones seen. */
const OUT_OF_MEMORY = /out of memory|\boom\b|failed to allocate|allocation (failed|error)|cannot allocate|array buffer allocation|memory access out of bounds|invalid (typed )?array length|Cannot enlarge memory|Aborted\(/i;

export function isOutOfMemory(error: unknown, backend?: Backend): boolean {
  if (error instanceof BtError) return error.code === 'OUT_OF_MEMORY';
  if (backend?.describeError?.(error, { stage: 'fit', epoch: 0, batch: 0, globalStep: 0 })?.code === 'OUT_OF_MEMORY') return true;
  const e = error as { message?: string; name?: string };
  return e instanceof RangeError || OUT_OF_MEMORY.test(`${e?.name ?? ''}: ${e?.message ?? String(error)}`);
}

/**
 * Doubles the batch size from `start` until a training step fails for lack of memory or uses more
 * than the budget, timing a few steps at each size; keeps the largest size that fits. Other
 * errors are not memory problems and propagate. The first failure ends the search: on the wasm
 * heap a failed allocation leaves the heap usable, but one inside a C++ kernel aborts the module.
 */
export async function findBatchSize(session: RunSession, options: BatchSizeOptions, onTrial?: (trial: BatchSizeTrial) => void): Promise<BatchSizeResult> {
  const { step, source } = await prepareTuning(session);
  const backend = await session.get(Slots.backend);
  const result: BatchSizeResult = { trials: [], stopped: `reached --max-size ${options.maxSize}` };
  try {
    for (let size = options.start; size <= options.maxSize; size *= 2) {
      const trial: BatchSizeTrial = { batchSize: size, peakBytes: 0, rss: 0, imagesPerSecond: 0, status: 'fits' };
      try {
        let elapsed = 0;
        for (let k = 0; k <= options.steps; k++) {
          const batch = await source.next(size);
          try {
            const started = performance.now();
            // Not tf.profile: it runs kernels inside a promise, where a failed allocation becomes an unhandled rejection.
            const peak = peakTensorBytes(backend, () => step.run(batch, options.lr));
            if (k > 0) elapsed += performance.now() - started;
            trial.peakBytes = Math.max(trial.peakBytes, peak);
          } finally {
            tf.dispose(Object.values(batch));
          }
        }
        trial.rss = process.memoryUsage().rss;
        trial.imagesPerSecond = (size * options.steps) / Math.max(elapsed / 1000, 1e-9);
        const used = options.measure === 'tensors' ? trial.peakBytes : options.measure === 'rss' ? trial.rss : Math.max(trial.peakBytes, trial.rss);
        if (options.maxMemory !== undefined && used > options.maxMemory) trial.status = 'over budget';
      } catch (error) {
        if (!isOutOfMemory(error, backend)) throw error;
        releaseAbandonedTape();
        trial.status = `failed: ${(error as Error).message?.split('\n')[0] ?? String(error)}`;
      }
      result.trials.push(trial);
      onTrial?.(trial);
      if (trial.status !== 'fits') {
        result.stopped = trial.status === 'over budget' ? `batch size ${size} exceeds the memory budget` : `batch size ${size} ran out of memory`;
        break;
      }
      result.best = size;
    }
  } finally {
    await source.dispose();
  }
  return result;
}
