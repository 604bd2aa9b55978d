import type { SampleJob, SampleResult } from './pipeline/processSample.mjs';

/** Where sample jobs run: on this thread or on a pool of worker threads. */
export interface SampleRunner {
  run(job: SampleJob): Promise<SampleResult>;
  close(): Promise<void>;
}

/** Runs jobs on the calling thread; sharp still decodes and resizes on libvips' own threads. */
export class InProcessRunner implements SampleRunner {
  private processSample?: Promise<(job: SampleJob) => Promise<SampleResult>>;

  run(job: SampleJob): Promise<SampleResult> {
    this.processSample ??= import('./pipeline/processSample.mjs').then((m) => m.processSample);
    return this.processSample.then((process) => process(job));
  }

  async close(): Promise<void> {}
}
