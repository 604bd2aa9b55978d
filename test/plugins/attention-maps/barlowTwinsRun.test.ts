import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { definePlugin, type PluginDefinition } from '@bt-platform/sdk';
import { runTinyFit } from '@bt-platform/sdk/testing';
import { readRaster } from '@bt-platform/sdk/draw';

/** Tensor count at the start of every training batch. */
function tensorProbe(counts: Array<{ epoch: number; batchIdx: number; tensors: number }>): PluginDefinition {
  return definePlugin({
    name: 'tensor-probe',
    apply(hooks) {
      hooks.trainBatchStart.tap('tensor-probe', (event) => {
        counts.push({ epoch: event.epoch, batchIdx: event.batchIdx, tensors: tf.memory().numTensors });
      });
    },
  });
}

const tmp = mkdtempSync(path.join(os.tmpdir(), 'bt-visual-'));
const barlowTwins = {
  data: { use: 'voc', root: path.join(tmp, 'voc'), generate: { images: 16, minSize: 40, maxSize: 48 }, mode: 'barlow-twins', imageSize: 32, batchSize: 4, workers: 0 },
  model: { backbone: { use: 'vit', variant: 'custom', imageSize: 32, patchSize: 8, embedDim: 32, depth: 3, heads: 2, mlpRatio: 2 } },
  task: { use: 'barlow-twins', projectorDim: 32 },
  optimizer: { use: 'adamw', lr: 1e-3 },
};

// A Barlow Twins pre-training of a tiny ViT with every visualisation on: the images land in the
// run directory, and the tensor count is the same at every step once the first epoch has run.
describe('visualisation callbacks in a Barlow Twins run', () => {
  it('draws attention maps, receptive fields, cross-correlations and views, without leaking tensors', async () => {
    const counts: Array<{ epoch: number; batchIdx: number; tensors: number }> = [];
    const result = await runTinyFit({
      plugins: [tensorProbe(counts)],
      config: {
        ...barlowTwins,
        backend: { use: 'wasm' },
        trainer: { maxEpochs: 2 },
        callbacks: [
          { use: 'attention-maps', images: 2 },
          { use: 'erf', layers: 2, batches: 1, scale: 'log' },
          { use: 'cross-correlation', size: 64 },
          { use: 'augmented-views', images: 2, stages: ['train', 'val'] },
          { use: 'lr-monitor' },
        ],
      },
    });
    expect(result.status).toBe('completed');
    const media = result.recorder.calls.filter((c) => c.hook === 'media').map((c) => c.event as { key: string; path: string });
    const keys = media.map((m) => m.key);
    for (const key of ['attention/val_0', 'attention/val_1', 'erf/val', 'cross_correlation/train', 'cross_correlation/val', 'views/train', 'views/val']) {
      expect(keys.filter((k) => k === key)).toHaveLength(2);
    }
    for (const m of media) {
      expect(m.path.startsWith(result.runDir)).toBe(true);
      const png = await readRaster(m.path);
      expect(png.width).toBeGreaterThan(60);
    }
    // The optimizer's moments appear at the first step; after it the count only changes by the
    // cross-correlation's running sum (one tensor, from the second batch of an epoch on), and
    // nothing any visualisation captured during validation outlives it.
    const at = (epoch: number) => counts.filter((c) => c.epoch === epoch).map((c) => c.tensors);
    const [first, second] = [at(0), at(1)];
    expect(second.length).toBeGreaterThanOrEqual(2);
    expect(second.slice(1)).toEqual(first.slice(1));
    expect(second[1] - second[0]).toBe(1);
  });

  it('draws the final model too: with 4 epochs and everyNEpochs 2, epochs 0, 2 and 3 are in media.jsonl, each once', async () => {
    const result = await runTinyFit({
      config: {
        ...barlowTwins,
        backend: { use: 'wasm' },
        trainer: { maxEpochs: 4 },
        callbacks: [
          { use: 'attention-maps', images: 1, everyNEpochs: 2 },
          { use: 'erf', layers: 1, batches: 1, imagesPerBatch: 1, everyNEpochs: 2 },
          { use: 'cross-correlation', size: 32, everyNEpochs: 2 },
          { use: 'augmented-views', images: 1, stages: ['train', 'val'], everyNEpochs: 2 },
        ],
      },
    });
    expect(result.status).toBe('completed');
    const entries = readFileSync(path.join(result.runDir, 'media.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { key: string; epoch: number });
    const keys = ['attention/val_0', 'erf/val', 'cross_correlation/train', 'cross_correlation/val', 'views/train', 'views/val'];
    for (const key of keys) expect([key, entries.filter((e) => e.key === key).map((e) => e.epoch)]).toEqual([key, [0, 2, 3]]);
    expect(entries).toHaveLength(3 * keys.length);
  });

  it('leaves training as it is: the same losses with every visualisation on as with none', async () => {
    const fit = (callbacks: Array<{ use: string } & Record<string, unknown>>) => runTinyFit({ config: { ...barlowTwins, backend: { use: 'wasm' }, trainer: { maxEpochs: 3 }, callbacks } });
    const plain = await fit([]);
    const drawn = await fit([
      { use: 'attention-maps', images: 2, everyNEpochs: 2 },
      { use: 'erf', layers: 2, batches: 1, everyNEpochs: 2 },
      { use: 'cross-correlation', size: 32, everyNEpochs: 2 },
      { use: 'augmented-views', images: 1, stages: ['train', 'val'], everyNEpochs: 2 },
    ]);
    const losses = (runDir: string) =>
      readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((line) => (JSON.parse(line) as { values: Record<string, number> }).values['train/loss'])
        .filter((v) => v !== undefined);
    expect(losses(plain.runDir).length).toBeGreaterThanOrEqual(6);
    // Bit for bit: observing attention must not switch training onto another computation.
    expect(losses(drawn.runDir)).toEqual(losses(plain.runDir));
    // Validation of a drawn epoch runs the attention unfused (its probabilities are observed): equal to rounding.
    expect(drawn.metrics['val/loss']).toBeCloseTo(plain.metrics['val/loss'], 4);
  });

  it('refuses attention maps without ViT attention', async () => {
    await expect(runTinyFit({ config: { trainer: { maxEpochs: 1 }, callbacks: [{ use: 'attention-maps' }] } })).rejects.toThrow(/attention-maps found no ViT attention/);
  });
});
