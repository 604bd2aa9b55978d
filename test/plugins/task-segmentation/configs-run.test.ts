import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run } from '@bt-platform/core';

/**
 * Each shipped experiment config runs one training and one validation batch (fastDevRun), shrunk
 * with `--set`-style overrides to a tiny model on a small generated VOC-format set: the configs are
 * runnable as written, not only valid.
 */
const dir = mkdtempSync(path.join(os.tmpdir(), 'bt-configs-run-'));
const tinyVit = '{use: vit, variant: custom, imageSize: 32, patchSize: 8, embedDim: 24, depth: 4, heads: 2, mlpRatio: 2}';

function shrink(extra: string[] = []): string[] {
  return [
    `runDir=${path.join(dir, 'runs')}`,
    `data.root=${path.join(dir, 'voc')}`,
    'data.generate={images: 8, minSize: 40, maxSize: 48}',
    'data.imageSize=32',
    'data.batchSize=2',
    'data.workers=0',
    'backend={use: auto}',
    'trainer.fastDevRun=true',
    ...extra,
  ];
}

const cases: Array<[string, string[]]> = [
  ['barlow-twins/vit-small-voc.yaml', [`model.backbone=${tinyVit}`, 'task.projectorDim=16']],
  ['barlow-twins/resnet50-voc.yaml', ['model.backbone.baseWidth=4', 'task.projectorDim=16']],
  ['segmentation/vit-small-linear.yaml', [`model.backbone=${tinyVit}`]],
  ['segmentation/vit-small-setr-naive.yaml', [`model.backbone=${tinyVit}`]],
  ['segmentation/vit-small-setr-pup.yaml', [`model.backbone=${tinyVit}`]],
  ['segmentation/vit-small-setr-mla.yaml', [`model.backbone=${tinyVit}`]],
  ['segmentation/resnet50-deeplabv3.yaml', ['model.backbone.baseWidth=4', 'model.head.channels=8']],
];

describe('shipped configs run', () => {
  it.each(cases)('%s', async (file, extra) => {
    const result = await run({ configFile: path.resolve('configs', file), overrides: shrink(extra), quiet: true });
    expect(result.status).toBe('completed');
    const key = file.startsWith('segmentation/') ? 'val/mIoU' : 'val/diag_mean';
    expect(Number.isFinite(result.metrics[key])).toBe(true);
  });
});
