/** Worker thread: processes sample jobs posted by the loader's pool and transfers the pixels back. */
import { parentPort } from 'node:worker_threads';
import sharp from 'sharp';
import { processSample } from './processSample.mjs';
import { SampleError } from './SampleError.mjs';

// Each worker is one of several threads on few cores: libvips' own thread pool would oversubscribe them.
sharp.concurrency(1);
sharp.cache(false);

parentPort.on('message', async (message) => {
  const { id, job } = message;
  try {
    const result = await processSample(job);
    const transfer = Object.values(result).map((array) => array.buffer);
    parentPort.postMessage({ id, ok: true, result }, transfer);
  } catch (error) {
    const sample = error instanceof SampleError ? { file: error.file, reason: error.reason } : undefined;
    parentPort.postMessage({ id, ok: false, sample, message: error instanceof Error ? error.message : String(error) });
  }
});
