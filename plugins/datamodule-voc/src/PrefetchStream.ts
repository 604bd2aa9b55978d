import * as tf from '@tensorflow/tfjs';
import type { Batch, BatchStream } from '@bt-platform/sdk';
import type { SampleJob, SampleResult } from './pipeline/processSample.mjs';
import { SampleError } from './pipeline/SampleError.mjs';
import type { SampleRunner } from './SampleRunner.js';

/** Shape of one sample's entry under a batch key, and its tensor dtype. */
export interface BatchKey {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
}

export interface PrefetchStreamOptions {
  /** Sample indices of each batch, in order. */
  batches: number[][];
  job(sampleIndex: number): SampleJob;
  runner: SampleRunner;
  keys: BatchKey[];
  /** Batches prepared ahead of the one being consumed. */
  prefetch: number;
  /** A sample could not be used; throw to stop the stream (strict mode). */
  onSkip(error: SampleError): void;
  /** Called once when the stream ends, is closed or fails. */
  onEnd(report: StreamReport): void;
}

export interface StreamReport {
  /** Samples skipped as corrupt. */
  skipped: number;
  /** Time the consumer spent waiting for batches, and the time from its first request to the end, in ms. */
  waitMs: number;
  elapsedMs: number;
}

interface Assembled {
  count: number;
  arrays: Array<Float32Array | Int32Array>;
}

/**
 * An epoch's batches, prepared `prefetch` batches ahead of the consumer. Pixels are prepared as typed
 * arrays; tensors are created only when a batch is handed out, so stopping early leaks nothing.
 */
export class PrefetchStream implements BatchStream {
  readonly length: number;
  private closed = false;
  private ended = false;
  private skipped = 0;
  private waitMs = 0;
  private startedAt?: number;
  private readonly inflight = new Set<Promise<Assembled>>();

  constructor(private readonly options: PrefetchStreamOptions) {
    this.length = options.batches.length;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Batch> {
    const { batches, prefetch } = this.options;
    const queue: Array<Promise<Assembled>> = [];
    let next = 0;
    const enqueue = () => {
      const promise = this.load(batches[next++]);
      // Awaited in order below; the no-op handler keeps an early failure from being reported as unhandled.
      promise.catch(() => {});
      this.inflight.add(promise);
      void promise.finally(() => this.inflight.delete(promise)).catch(() => {});
      queue.push(promise);
    };
    try {
      while (!this.closed) {
        if (queue.length === 0) {
          if (next >= batches.length) break;
          enqueue();
        }
        const head = queue.shift()!;
        while (queue.length < prefetch && next < batches.length && !this.closed) enqueue();
        const waitStart = performance.now();
        this.startedAt ??= waitStart;
        const assembled = await head;
        this.waitMs += performance.now() - waitStart;
        if (this.closed) break;
        if (assembled.count > 0) yield this.toBatch(assembled);
      }
    } finally {
      this.closed = true;
      await Promise.allSettled(queue);
      this.end();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.inflight]);
    this.end();
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    const elapsedMs = this.startedAt === undefined ? 0 : performance.now() - this.startedAt;
    this.options.onEnd({ skipped: this.skipped, waitMs: this.waitMs, elapsedMs });
  }

  private async load(indices: number[]): Promise<Assembled> {
    const { runner, job, keys } = this.options;
    const settled = await Promise.allSettled(indices.map((i) => runner.run(job(i))));
    const results: SampleResult[] = [];
    for (const outcome of settled) {
      if (outcome.status === 'fulfilled') results.push(outcome.value);
      else if (outcome.reason instanceof SampleError) {
        this.skipped++;
        this.options.onSkip(outcome.reason);
      } else throw outcome.reason;
    }
    const arrays = keys.map((key) => {
      const per = key.shape.reduce((a, b) => a * b, 1);
      const array = key.dtype === 'int32' ? new Int32Array(results.length * per) : new Float32Array(results.length * per);
      results.forEach((result, k) => array.set((result as unknown as Record<string, Float32Array | Int32Array>)[key.name], k * per));
      return array;
    });
    return { count: results.length, arrays };
  }

  private toBatch(assembled: Assembled): Batch {
    const batch: Batch = {};
    this.options.keys.forEach((key, k) => {
      batch[key.name] = tf.tensor(assembled.arrays[k], [assembled.count, ...key.shape], key.dtype);
    });
    return batch;
  }
}
