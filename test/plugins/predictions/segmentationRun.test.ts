import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runTinyFit } from '@bt-platform/sdk/testing';
import { readRaster } from '@bt-platform/sdk/draw';
import { GridLayout } from '@bt-platform/sdk/draw';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'bt-seg-visual-'));

// VOC's palette, as the synthetic set's masks use it (class id k → colour), plus the void colour.
function vocPalette(): number[][] {
  return Array.from({ length: 21 }, (_, k) => {
    const rgb = [0, 0, 0];
    for (let bit = 0, c = k; c > 0; bit++, c >>= 3) for (let ch = 0; ch < 3; ch++) rgb[ch] |= ((c >> ch) & 1) << (7 - bit);
    return rgb;
  }).concat([[224, 224, 192]]);
}

describe('visualisation callbacks in a segmentation run', () => {
  it('draws predictions in the palette, attention maps and receptive fields of the fine-tuned ViT', async () => {
    const result = await runTinyFit({
      config: {
        backend: { use: 'wasm' },
        data: { use: 'voc', root: path.join(tmp, 'voc'), generate: { images: 12, minSize: 40, maxSize: 48 }, mode: 'segmentation', imageSize: 32, batchSize: 4, workers: 0 },
        model: {
          backbone: { use: 'vit', variant: 'custom', imageSize: 32, patchSize: 8, embedDim: 32, depth: 2, heads: 2, mlpRatio: 2 },
          head: { use: 'linear' },
        },
        task: { use: 'segmentation' },
        optimizer: { use: 'adamw', lr: 1e-3 },
        trainer: { maxEpochs: 2 },
        callbacks: [
          { use: 'predictions', images: 2, stages: ['train', 'val'], everyNEpochs: 3 },
          { use: 'attention-maps', images: 1, everyNEpochs: 2 },
          { use: 'erf', layers: ['blocks.1'], batches: 1 },
          { use: 'early-stopping', monitor: 'val/mIoU', mode: 'max', patience: 5 },
        ],
      },
    });
    expect(result.status).toBe('completed');
    const media = result.recorder.calls.filter((c) => c.hook === 'media').map((c) => c.event as { key: string; path: string });
    expect(media.map((m) => m.key).sort()).toEqual(
      ['attention/val_0', 'attention/val_0', 'erf/val', 'erf/val', 'predictions/train', 'predictions/train', 'predictions/val', 'predictions/val'].sort(),
    );
    // Epoch 1 is not a multiple of everyNEpochs, but it is the last: the final model is drawn.
    const index = readFileSync(path.join(result.runDir, 'media.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { key: string; epoch: number });
    for (const key of ['predictions/train', 'predictions/val', 'attention/val_0']) expect([key, index.filter((e) => e.key === key).map((e) => e.epoch)]).toEqual([key, [0, 1]]);

    const palette = vocPalette().map((c) => c.join(','));
    const grid = new GridLayout(2, 3, 128, 128, { right: 180 });
    for (const m of media.filter((x) => x.key.startsWith('predictions/'))) {
      const png = await readRaster(m.path);
      expect(png.width).toBe(grid.width);
      for (let row = 0; row < 2; row++) {
        for (const column of [1, 2]) {
          const { left, top } = grid.cell(row, column);
          for (let y = top; y < top + grid.panelHeight; y += 3) {
            for (let x = left; x < left + grid.panelWidth; x += 3) {
              const at = (y * png.width + x) * 3;
              expect(palette).toContain(`${png.data[at]},${png.data[at + 1]},${png.data[at + 2]}`);
            }
          }
        }
      }
    }
  });
});
