/**
 * Worker thread: processes the sample jobs posted by the loader's pool and transfers the pixels back.
 * Jobs are queued here rather than in the pool, so the worker keeps busy while the main thread computes;
 * they run first in first out, a few at a time, so the batch needed next is finished first.
 */
import { parentPort } from 'node:worker_threads';
import sharp from 'sharp';
import { processSample } from './processSample.mjs';
import { SampleError } from './SampleError.mjs';

// Each worker is one of several threads on few cores: libvips' own thread pool would oversubscribe them.
sharp.concurrency(1);
sharp.cache(false);

const CONCURRENCY = 2;
const queue = [];
let running = 0;

parentPort.on('message', (message) => {
  queue.push(message);
  pump();
});

function pump() {
  while (running < CONCURRENCY && queue.length > 0) {
    running++;
    void run(queue.shift()).finally(() => {
      running--;
      pump();
    });
  }
}

/** @param {{ id: number, job: import('./processSample.d.mts').SampleJob }} message */
async function run({ id, job }) {
  try {
    const result = await processSample(job);
    const transfer = Object.values(result).flatMap((value) => (ArrayBuffer.isView(value) ? [value.buffer] : []));
    parentPort.postMessage({ id, ok: true, result }, transfer);
  } catch (error) {
    const sample = error instanceof SampleError ? { file: error.file, reason: error.reason } : undefined;
    parentPort.postMessage({ id, ok: false, sample, message: error instanceof Error ? error.message : String(error) });
  }
}
