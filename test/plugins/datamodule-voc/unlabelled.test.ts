import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { synthesizeVoc, vocOptions } from '@bt-platform/plugin-datamodule-voc';
import { makeDataModule, tempDir } from './vocTestKit.js';

/**
 * VOC's layout for self-supervised pre-training: ImageSets/Main lists every image, ImageSets/
 * Segmentation only those with masks. The generator writes a labelled fraction that way and the
 * datamodule reads either folder.
 */
let root: string;
const voc = () => path.join(root, 'VOCdevkit', 'VOC2012');
const split = (set: string, name: string) => readFileSync(path.join(voc(), 'ImageSets', set, `${name}.txt`), 'utf8').trim().split('\n');

beforeAll(async () => {
  root = tempDir();
  await synthesizeVoc(root, { images: 16, seed: 3, minSize: 24, maxSize: 32, valFraction: 0.25, labelledFraction: 0.25 });
});

describe('a synthetic set with unlabelled images', () => {
  it('lists every image in Main and only the labelled ones, with masks, in Segmentation', () => {
    const [train, val] = [split('Main', 'train'), split('Main', 'val')];
    expect([train.length, val.length]).toEqual([12, 4]);
    const labelled = split('Segmentation', 'train');
    expect(labelled).toHaveLength(3);
    expect(train).toEqual(expect.arrayContaining(labelled));
    expect(split('Segmentation', 'val')).toEqual(val);
    expect(split('Main', 'trainval').sort()).toEqual([...train, ...val].sort());
    expect(split('Segmentation', 'trainval').sort()).toEqual([...labelled, ...val].sort());
    for (const id of train) {
      expect(existsSync(path.join(voc(), 'JPEGImages', `${id}.jpg`))).toBe(true);
      expect({ id, mask: existsSync(path.join(voc(), 'SegmentationClass', `${id}.png`)) }).toEqual({ id, mask: labelled.includes(id) });
    }
  });

  it('keeps the earlier layout by default: half for validation, every image labelled', async () => {
    const other = tempDir();
    const result = await synthesizeVoc(other, { images: 6, seed: 3, minSize: 24, maxSize: 32 });
    expect([result.train.length, result.labelled.length, result.val.length]).toEqual([3, 3, 3]);
    expect(result.labelled).toEqual(result.train);
  });

  it('pre-trains on ImageSets/Main (imageSet: Main) and segments ImageSets/Segmentation', async () => {
    const pretrain = makeDataModule({ root, mode: 'barlow-twins', imageSet: 'Main', imageSize: 16, batchSize: 4, workers: 0 });
    await pretrain.dm.setup('fit');
    expect(pretrain.dm.counts('train').listed).toBe(12);
    const segment = makeDataModule({ root, mode: 'segmentation', imageSize: 16, batchSize: 2, workers: 0 });
    await segment.dm.setup('fit');
    expect([segment.dm.counts('train').listed, segment.dm.counts('val').listed]).toEqual([3, 4]);
  });

  it('refuses segmentation from ImageSets/Main, whose images have no masks, in the options (so `validate` does too)', () => {
    const parsed = vocOptions.safeParse({ root, mode: 'segmentation', imageSet: 'Main' });
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues.map((i) => [i.path.join('.'), i.message])).toEqual([['imageSet', expect.stringMatching(/^Main lists images that have no masks, so it cannot feed `mode: segmentation`/)]]);
    expect(vocOptions.safeParse({ root, mode: 'barlow-twins', imageSet: 'Main' }).success).toBe(true);
  });
});
