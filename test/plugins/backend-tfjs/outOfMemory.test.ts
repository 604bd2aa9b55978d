import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { run } from '@bt-platform/core';
import { BtError, type BtConfig, type PluginDefinition } from '@bt-platform/sdk';
import { toyPlugin } from '@bt-platform/sdk/testing';
import { describeOutOfMemory, useJsBackend, WasmHeapExhausted, wasmHeapUsage } from '@bt-platform/plugin-backend-tfjs';

const place = { stage: 'fit' as const, epoch: 2, batch: 5, globalStep: 41 };
const wasm = { name: 'native', device: 'cpu' as const, detail: '' };

describe('the wasm heap', () => {
  let listenersBefore: number;

  beforeAll(async () => {
    listenersBefore = process.listeners('unhandledRejection').length + process.listeners('uncaughtException').length;
    await useJsBackend('wasm');
  });

  test('initialising it leaves no process-wide handler behind (they turned any stray error into exit 7 and a source dump)', () => {
    expect(process.listeners('unhandledRejection').length + process.listeners('uncaughtException').length).toBe(listenersBefore);
  });

  test('a tensor larger than the 4 GB heap is refused before anything is written, and the heap stays usable', () => {
    const x = tf.ones([60000, 1]);
    const y = tf.ones([1, 60000]);
    const tensors = tf.memory().numTensors;
    const live = wasmHeapUsage()!.live;
    // 13.4 GB: a 32-bit malloc would wrap this size around and the kernel write past the block.
    expect(() => tf.matMul(x, y)).toThrow(WasmHeapExhausted);
    expect(() => tf.matMul(x, y)).toThrow(/a tensor of 13\.41 GB does not fit .*limit 4\.00 GB/);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(wasmHeapUsage()!.live).toBe(live);
    expect(tf.sum(tf.matMul(y, x)).dataSync()[0]).toBe(60000);
    tf.dispose([x, y]);
  });

  test('near 4 GB every allocation either fits inside the memory or is WasmHeapExhausted', () => {
    const backend = tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array }; dataIdMap: { get(id: tf.DataId): { memoryOffset: number } } };
    const MB = 1024 ** 2;
    const blocks: tf.Tensor[] = [];
    const failures: unknown[] = [];
    const allocate = (mb: number) => {
      try {
        const t = tf.zeros([(mb * MB) / 4]);
        blocks.push(t);
        expect(backend.dataIdMap.get(t.dataId).memoryOffset + mb * MB).toBeLessThanOrEqual(backend.wasm.HEAPU8.length);
        return t;
      } catch (error) {
        failures.push(error);
        return undefined;
      }
    };
    // The sequence that made tfjs-wasm's allocator hand out a block running past 4 GB (its size
    // arithmetic wraps at 2³²; zeros then failed with a RangeError, native kernels with a segfault).
    for (let i = 0; i < 15; i++) allocate(256);
    const small = allocate(55);
    allocate(256);
    small?.dispose();
    allocate(256);
    tf.dispose(blocks);
    expect(failures.length).toBeGreaterThanOrEqual(2);
    for (const failure of failures) expect(failure).toBeInstanceOf(WasmHeapExhausted);
  });

  test('allocated bytes are counted, freed ones too, and the peak is kept', () => {
    const before = wasmHeapUsage()!;
    const t = tf.zeros([1024, 1024]);
    expect(wasmHeapUsage()!.live - before.live).toBe(4 * 1024 * 1024);
    t.dispose();
    const after = wasmHeapUsage()!;
    expect(after.live).toBe(before.live);
    expect(after.peak).toBeGreaterThanOrEqual(before.live + 4 * 1024 * 1024);
  });
});

describe('describeOutOfMemory', () => {
  const config = { data: { batchSize: 64, imageSize: 224 }, task: { use: 'barlow-twins', projectorDim: 8192 }, model: { backbone: { use: 'resnet50' } } };

  test('names the backend, its limit, where the run was, and the config keys to lower with their values', () => {
    const error = describeOutOfMemory(new WasmHeapExhausted(1.5 * 1024 ** 3, { live: 3 * 1024 ** 3, peak: 0, heap: 0, limit: 4294901760, aborted: false }), wasm, place, config)!;
    expect(error).toBeInstanceOf(BtError);
    expect(error.code).toBe('OUT_OF_MEMORY');
    expect(error.exitCode).toBe(1);
    expect(error.message).toBe(
      'The native backend ran out of memory while training (epoch 2, batch 5, global step 41): a tensor of 1.50 GB does not fit next to the 3.00 GB of tensors it holds (limit 4.00 GB, 32-bit WebAssembly).',
    );
    for (const key of ['data.batchSize (now 64)', 'data.imageSize (now 224)', 'task.projectorDim (now 8192)', 'model.backbone.checkpointActivations: true', 'tune batch-size', 'Checkpoints written so far are intact']) {
      expect(error.hint).toContain(key);
    }
  });

  test('finds an allocation failure wrapped by a hook error; leaves other failures alone', () => {
    const inner = new RangeError('Array buffer allocation failed');
    const hook = new BtError('HOOK_FAILED', 'callback "erf" failed in validationEnd', { cause: inner });
    const described = describeOutOfMemory(hook, { name: 'cpu', device: 'cpu', detail: '' }, { ...place, stage: 'validate' }, {})!;
    expect(described.message).toBe('The cpu backend ran out of memory while running validation (epoch 2, batch 5, global step 41): Array buffer allocation failed.');
    expect(described.hint).toContain('Lower the batch size or the image size');
    expect(describeOutOfMemory(new Error('kernel not registered'), wasm, place, config)).toBeUndefined();
    expect(describeOutOfMemory(new BtError('DATA_MISSING', 'no samples'), wasm, place, config)).toBeUndefined();
    // Only a heap at its limit makes a wasm trap an out-of-memory error.
    expect(describeOutOfMemory(new Error('memory access out of bounds'), wasm, place, config)).toBeUndefined();
  });

  test('an oversize batch on wasm fails the run with OUT_OF_MEMORY and leaves the last checkpoint as it was', async () => {
    const runDir = mkdtempSync(path.join(os.tmpdir(), 'bt-oom-'));
    const config = (batchSize: number): BtConfig => ({
      seed: 1,
      backend: { use: 'wasm' },
      data: { use: 'toy', samples: 1100, valSamples: 8, batchSize },
      // One hidden activation of batch × 1e6 floats: 4.4 GB at 1100.
      task: { use: 'toy-regression', hidden: 1_000_000 },
      optimizer: { use: 'sgd', lr: 0.01 },
      trainer: { maxEpochs: 1, limitTrainBatches: 1, limitValBatches: 1 },
      callbacks: [{ use: 'checkpoint' }],
      runDir,
    });
    const first = await run({ config: config(2), plugins: [toyPlugin], quiet: true });
    const checkpoint = first.summary.lastCheckpoint as string;
    const bytes = readFileSync(checkpoint);
    const failure = await run({ config: { ...config(1100), trainer: { maxEpochs: 2, limitTrainBatches: 1, limitValBatches: 1 } }, plugins: [toyPlugin], resume: checkpoint, quiet: true }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(BtError);
    expect((failure as BtError).code).toBe('OUT_OF_MEMORY');
    expect((failure as BtError).message).toMatch(/^The wasm backend ran out of memory while training \(epoch 1, batch 0, global step 1\): a tensor of 4\.10 GB/);
    expect((failure as BtError).hint).toContain('data.batchSize (now 1100)');
    expect(readFileSync(checkpoint).equals(bytes)).toBe(true);
  });

  test('a failure while releasing the model afterwards (a heap that aborted) does not hide the out-of-memory error', async () => {
    const brokenRelease: PluginDefinition = {
      name: 'broken-release',
      apply(hooks) {
        hooks.setup.tapPromise('broken-release', async ({ task }) => {
          task.model.dispose = () => {
            throw new WebAssembly.RuntimeError('memory access out of bounds');
          };
        });
      },
    };
    const config: BtConfig = {
      backend: { use: 'wasm' },
      data: { use: 'toy', samples: 1100, valSamples: 8, batchSize: 1100 },
      task: { use: 'toy-regression', hidden: 1_000_000 },
      optimizer: { use: 'sgd', lr: 0.01 },
      trainer: { maxEpochs: 1 },
      runDir: mkdtempSync(path.join(os.tmpdir(), 'bt-oom-')),
    };
    const failure = await run({ config, plugins: [toyPlugin, brokenRelease], quiet: true }).catch((e: unknown) => e);
    expect((failure as BtError).code).toBe('OUT_OF_MEMORY');
  });
});
