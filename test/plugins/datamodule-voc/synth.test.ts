import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { synthDifference, synthesizeVoc } from '@bt-platform/plugin-datamodule-voc';
import { decodeMask } from '../../../plugins/datamodule-voc/src/pipeline/decodeMask.mjs';
import { tempDir } from './vocTestKit.js';

const settings = { images: 9, seed: 11, minSize: 32, maxSize: 56 };
let a: string;
let b: string;

beforeAll(async () => {
  a = tempDir();
  b = tempDir();
  await synthesizeVoc(a, settings);
  await synthesizeVoc(b, settings);
});

const voc = (root: string) => path.join(root, 'VOCdevkit', 'VOC2012');

describe('data synth', () => {
  it('writes the VOC 2012 layout: JPEG images, palette PNG masks and train/val/trainval splits', async () => {
    const dir = voc(a);
    const split = (name: string) => readFileSync(path.join(dir, 'ImageSets/Segmentation', `${name}.txt`), 'utf8').trim().split('\n');
    const train = split('train');
    const val = split('val');
    expect(train.length + val.length).toBe(9);
    expect(new Set([...train, ...val]).size).toBe(9);
    expect(split('trainval').sort()).toEqual([...train, ...val].sort());
    let portrait = 0;
    let landscape = 0;
    for (const id of split('trainval')) {
      const image = await sharp(path.join(dir, 'JPEGImages', `${id}.jpg`)).metadata();
      const mask = await sharp(path.join(dir, 'SegmentationClass', `${id}.png`)).metadata();
      expect(image.format).toBe('jpeg');
      expect(mask.format).toBe('png');
      expect(mask.isPalette).toBe(true);
      expect([mask.width, mask.height]).toEqual([image.width, image.height]);
      expect(Math.min(image.width!, image.height!)).toBeGreaterThanOrEqual(32);
      expect(Math.max(image.width!, image.height!)).toBeLessThanOrEqual(56);
      if (image.height! > image.width!) portrait++;
      else landscape++;
    }
    expect(portrait).toBeGreaterThan(0);
    expect(landscape).toBeGreaterThan(0);
  });

  it('draws objects of several classes with a void band between any two labels', async () => {
    const classes = new Set<number>();
    const dir = voc(a);
    for (const file of readdirSync(path.join(dir, 'SegmentationClass'))) {
      const { labels, width, height } = await decodeMask(path.join(dir, 'SegmentationClass', file), 21, 255);
      for (let y = 0; y < height; y++) {
        for (let x = 0; x + 1 < width; x++) {
          const here = labels[y * width + x];
          const right = labels[y * width + x + 1];
          if (here !== 255) classes.add(here);
          // Two different classes never touch: a void pixel always separates them.
          if (here !== 255 && right !== 255) expect(right).toBe(here);
        }
      }
    }
    classes.delete(0);
    expect(classes.size).toBeGreaterThanOrEqual(4);
  });

  it('is deterministic for a seed and differs for another', async () => {
    const dir = (root: string) => path.join(voc(root), 'JPEGImages');
    for (const file of readdirSync(dir(a))) {
      expect(readFileSync(path.join(dir(b), file)).equals(readFileSync(path.join(dir(a), file)))).toBe(true);
    }
    const c = tempDir();
    await synthesizeVoc(c, { ...settings, images: 2, seed: 12 });
    expect(readFileSync(path.join(dir(c), 'synth_000001.jpg')).equals(readFileSync(path.join(dir(a), 'synth_000001.jpg')))).toBe(false);
    expect(existsSync(path.join(voc(c), 'ImageSets/Segmentation/val.txt'))).toBe(true);
  });
});

describe('the settings stamp of a generated set', () => {
  it('names each setting that differs from the set on disk, and nothing when they match', () => {
    expect(synthDifference(a, settings)).toBeUndefined();
    expect(synthDifference(a, { ...settings, images: 12, labelledFraction: 0.5 })).toBe('images 9 (now 12), labelledFraction 1 (now 0.5)');
    // A set without a stamp (made by another tool) is not second-guessed.
    expect(synthDifference(path.dirname(a), settings)).toBeUndefined();
  });

  it('names a set generated before the stamp existed (generator image names, no stamp)', async () => {
    const old = tempDir();
    await synthesizeVoc(old, settings);
    rmSync(path.join(old, 'bt-synth.json'));
    expect(synthDifference(old, settings)).toBe('an earlier version of the generator (no bt-synth.json)');
  });
});
