import { Worker } from 'node:worker_threads';
import { BtError } from '@bt-platform/sdk';
import type { SampleJob, SampleResult } from './pipeline/processSample.mjs';
import { SampleError } from './pipeline/SampleError.mjs';
import type { SampleRunner } from './SampleRunner.js';

interface Pending {
  resolve(result: SampleResult): void;
  reject(error: Error): void;
  slot: Slot;
}

interface Slot {
  worker: Worker;
  inflight: number;
}

interface Reply {
  id: number;
  ok: boolean;
  result?: SampleResult;
  sample?: { file: string; reason: string };
  message?: string;
}

/**
 * Worker threads running `pipeline/worker.mjs` (plain JavaScript, so it loads under jest, tsx and node).
 * Each job is posted at once to the worker with the fewest jobs, which queues it: workers keep going
 * while the main thread is busy with a training step. Idle workers are unref'd: they never keep the
 * process alive.
 */
export class WorkerPool implements SampleRunner {
  private readonly slots: Slot[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private closed = false;

  constructor(private readonly size: number) {}

  run(job: SampleJob): Promise<SampleResult> {
    if (this.closed) return Promise.reject(new BtError('RUNTIME', 'The VOC loader was closed.'));
    while (this.slots.length < this.size) this.slots.push(this.spawn());
    const slot = this.slots.reduce((best, s) => (s.inflight < best.inflight ? s : best));
    const id = this.nextId++;
    return new Promise<SampleResult>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, slot });
      if (slot.inflight++ === 0) slot.worker.ref();
      slot.worker.postMessage({ id, job });
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const slots = this.slots.splice(0);
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.reject(new BtError('RUNTIME', 'The VOC loader was closed.'));
    }
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  private spawn(): Slot {
    const worker = new Worker(new URL('./pipeline/worker.mjs', import.meta.url));
    const slot: Slot = { worker, inflight: 0 };
    worker.unref();
    worker.on('message', (reply: Reply) => this.settle(reply));
    worker.on('error', (error) => this.fail(slot, error));
    worker.on('exit', (code) => {
      if (!this.closed) this.fail(slot, new Error(`worker exited with code ${code}`));
    });
    return slot;
  }

  private settle(reply: Reply): void {
    const p = this.pending.get(reply.id);
    if (!p) return;
    this.pending.delete(reply.id);
    if (--p.slot.inflight === 0) p.slot.worker.unref();
    if (reply.ok && reply.result) p.resolve(reply.result);
    else if (reply.sample) p.reject(new SampleError(reply.sample.file, reply.sample.reason));
    else p.reject(new BtError('RUNTIME', `VOC loader worker failed: ${reply.message}`));
  }

  /** A crashed worker fails its jobs and is replaced on the next request. */
  private fail(slot: Slot, error: Error): void {
    const index = this.slots.indexOf(slot);
    if (index >= 0) this.slots.splice(index, 1);
    for (const [id, p] of this.pending) {
      if (p.slot !== slot) continue;
      this.pending.delete(id);
      p.reject(new BtError('RUNTIME', `VOC loader worker failed: ${error.message}`, { cause: error }));
    }
    void slot.worker.terminate();
  }
}
