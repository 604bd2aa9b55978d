import type { SampleJob, SampleResult } from './pipeline/processSample.mjs';

/** Where sample jobs run: on this thread or on a pool of worker threads. */
export interface SampleRunner {
  run(job: SampleJob): Promise<SampleResult>;
  close(): Promise<void>;
}

/** Jobs in progress at once on this thread: sharp's decoding overlaps the JavaScript colour work of others. */
const CONCURRENCY = 4;

/**
 * Runs jobs on the calling thread, first in first out; sharp still decodes and resizes on libvips'
 * own threads.
 */
export class InProcessRunner implements SampleRunner {
  private processSample?: Promise<(job: SampleJob) => Promise<SampleResult>>;
  private readonly queue: Array<() => void> = [];
  private running = 0;

  async run(job: SampleJob): Promise<SampleResult> {
    this.processSample ??= import('./pipeline/processSample.mjs').then((m) => m.processSample);
    // A finishing job hands its place straight to the oldest waiting one.
    if (this.running >= CONCURRENCY) await new Promise<void>((resolve) => this.queue.push(resolve));
    else this.running++;
    try {
      return await (await this.processSample)(job);
    } finally {
      const next = this.queue.shift();
      if (next) next();
      else this.running--;
    }
  }

  async close(): Promise<void> {}
}
