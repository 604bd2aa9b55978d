import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { VOC_PALETTE } from '@bt-platform/plugin-datamodule-voc';
import { Rng } from '@bt-platform/sdk';
import { renderSyntheticSample, synthesizeVoc, vocOptions } from '@bt-platform/plugin-datamodule-voc';
import { decodeMask } from '../../../plugins/datamodule-voc/src/pipeline/decodeMask.mjs';
import { sampleViewParams } from '../../../plugins/datamodule-voc/src/pipeline/processSample.mjs';
import { Uniforms } from '../../../plugins/datamodule-voc/src/pipeline/Uniforms.mjs';
import { adjustHue, cropResizeNearest, flip, solarize } from '../../../plugins/datamodule-voc/src/pipeline/transforms.mjs';
import { collect, makeDataModule, paintSample, tempDir, writeVocSet, type HandSample } from './vocTestKit.js';

const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

/** 8×8 blocks of classes that never repeat with a short period, separated by 2-pixel void columns. */
function blockClass(x: number, y: number): number {
  if (x % 8 < 2) return 255;
  const bx = x >> 3;
  const by = y >> 3;
  return 1 + ((bx * 7 + by * 3 + bx * by * 5) % 20);
}

function blocks(id: string, width: number, height: number): HandSample {
  const sample = paintSample(id, width, height, (x, y) => {
    const c = blockClass(x, y);
    const [r, g, b] = VOC_PALETTE[c];
    return [c, [r, g, b]];
  });
  sample.lossless = true;
  return sample;
}

function constant(id: string, size: number, colour: [number, number, number]): HandSample {
  const sample = paintSample(id, size, size, () => [0, colour]);
  sample.lossless = true;
  return sample;
}

let root: string;
let source: HandSample;

beforeAll(async () => {
  await tf.setBackend('cpu');
  root = tempDir();
  source = blocks('blocks', 64, 64);
  await writeVocSet(root, [source, blocks('wide', 64, 48), constant('flat', 32, [200, 100, 50])], {
    train: ['blocks'],
    val: ['blocks'],
    flat: ['flat'],
  });
});

const srcAt = (x: number, y: number) => source.labels[y * 64 + x];

describe('masks decode to exact class indices', () => {
  it('reads the palette PNG back to the painted indices, void included', async () => {
    const mask = await decodeMask(path.join(root, 'VOCdevkit/VOC2012/SegmentationClass/blocks.png'), 21, 255);
    expect([mask.width, mask.height]).toEqual([64, 64]);
    expect(Array.from(mask.labels)).toEqual(Array.from(source.labels));
    expect(mask.labels.filter((v) => v === 255).length).toBe(16 * 64);
  });

  it.each([
    [64, (x: number, y: number) => srcAt(x, y)],
    [32, (x: number, y: number) => srcAt(2 * x + 1, 2 * y + 1)],
    [128, (x: number, y: number) => srcAt(x >> 1, y >> 1)],
  ])('validation resizes the mask to %i px by nearest neighbour', async (size, expected) => {
    const { dm } = makeDataModule({ root, mode: 'segmentation', imageSize: size, workers: 0, valBatchSize: 1 });
    await dm.setup('fit');
    const [batch] = await collect(dm.valBatches());
    expect(batch.mask.shape).toEqual([1, size, size]);
    expect(batch.mask.dtype).toBe('int32');
    const want = Array.from({ length: size * size }, (_, i) => expected(i % size, Math.floor(i / size)));
    expect(Array.from(batch.mask.data)).toEqual(want);
    await dm.teardown();
  });
});

/** Every (left, top, hflip, vflip) under which `mask` is exactly the crop of a 64×64 source sampled with `step`. */
function matchingCrops(mask: Int32Array, size: number, step: number, at = srcAt): string[] {
  const found: string[] = [];
  const span = size * step;
  for (let top = 0; top + span <= 64; top++) {
    for (let left = 0; left + span <= 64; left++) {
      for (const h of [false, true]) {
        for (const v of [false, true]) {
          let ok = true;
          for (let y = 0; y < size && ok; y++) {
            for (let x = 0; x < size; x++) {
              const sx = left + (h ? size - 1 - x : x) * step + (step >> 1);
              const sy = top + (v ? size - 1 - y : y) * step + (step >> 1);
              if (mask[y * size + x] !== at(sx, sy)) {
                ok = false;
                break;
              }
            }
          }
          if (ok) found.push(`${left},${top},${h},${v}`);
        }
      }
    }
  }
  return found;
}

describe('segmentation augmentation keeps classes and void exact', () => {
  it.each([
    [32, 1],
    [16, 2],
  ])('a 0.5 crop resized to %i px is an exact (flipped) crop of the mask, and the image moved with it', async (size, step) => {
    const { dm } = makeDataModule({
      root,
      mode: 'segmentation',
      imageSize: size,
      workers: 0,
      batchSize: 1,
      segmentationAugment: { cropScale: [0.5, 0.5], hflip: 0.5, vflip: 0.5 },
    });
    await dm.setup('fit');
    const flips = new Set<string>();
    for (let epoch = 0; epoch < 6; epoch++) {
      const [batch] = await collect(dm.trainBatches(epoch));
      const mask = batch.mask.data as Int32Array;
      const matches = matchingCrops(mask, size, step);
      expect(matches.length).toBeGreaterThan(0);
      flips.add(matches[0].split(',').slice(2).join(','));
      expect(mask.some((v) => v === 255)).toBe(true);

      // Where the mask is one class over a 3×3 neighbourhood, the image shows that class's colour.
      const image = batch.image.data as Float32Array;
      let checked = 0;
      for (let y = 1; y < size - 1; y++) {
        for (let x = 1; x < size - 1; x++) {
          const c = mask[y * size + x];
          let uniform = c !== 255;
          for (let dy = -1; dy <= 1 && uniform; dy++) for (let dx = -1; dx <= 1; dx++) if (mask[(y + dy) * size + x + dx] !== c) uniform = false;
          if (!uniform) continue;
          checked++;
          for (let ch = 0; ch < 3; ch++) {
            const value = (image[(y * size + x) * 3 + ch] * STD[ch] + MEAN[ch]) * 255;
            expect(Math.abs(value - VOC_PALETTE[c][ch])).toBeLessThan(2);
          }
        }
      }
      expect(checked).toBeGreaterThan(0);
    }
    expect(flips.size).toBeGreaterThan(1);
    await dm.teardown();
  });
});

describe('Barlow Twins views', () => {
  it('normalise with the ImageNet statistics when every augmentation is off', async () => {
    const { dm } = makeDataModule({
      root,
      trainSplit: 'flat',
      imageSize: 16,
      workers: 0,
      batchSize: 1,
      augment: {
        cropScale: [1, 1],
        cropRatio: [1, 1],
        hflip: 0,
        brightnessContrast: { p: 0 },
        hueSaturation: { p: 0 },
        grayscale: 0,
        blur: { p: [0, 0] },
        solarize: [0, 1],
      },
    });
    await dm.setup('fit');
    const [batch] = await collect(dm.trainBatches(0));
    expect(batch.view1.shape).toEqual([1, 16, 16, 3]);
    const colour = [200, 100, 50];
    const solarized = [55, 100, 50];
    for (let i = 0; i < 16 * 16 * 3; i++) {
      const ch = i % 3;
      expect(batch.view1.data[i]).toBeCloseTo((colour[ch] / 255 - MEAN[ch]) / STD[ch], 4);
      expect(batch.view2.data[i]).toBeCloseTo((solarized[ch] / 255 - MEAN[ch]) / STD[ch], 4);
    }
    await dm.teardown();
  });

  it('grayscale makes the three channels equal', async () => {
    const { dm } = makeDataModule({ root, trainSplit: 'flat', imageSize: 8, workers: 0, batchSize: 1, augment: { grayscale: 1, solarize: [0, 0] } });
    await dm.setup('fit');
    const [batch] = await collect(dm.trainBatches(0));
    const v = batch.view1.data;
    for (let i = 0; i < v.length; i += 3) {
      const [r, g, b] = [0, 1, 2].map((ch) => v[i + ch] * STD[ch] + MEAN[ch]);
      expect(g).toBeCloseTo(r, 4);
      expect(b).toBeCloseTo(r, 4);
    }
    await dm.teardown();
  });
});

describe('pixel transforms', () => {
  it('rotates hue by a third of a turn: red becomes green', () => {
    const px = new Float32Array([255, 0, 0, 10, 10, 10]);
    adjustHue(px, 1 / 3);
    expect(Array.from(px).map((v) => Math.round(v))).toEqual([0, 255, 0, 10, 10, 10]);
  });

  it('solarizes values at or above 128', () => {
    const px = new Float32Array([0, 127, 128, 255]);
    solarize(px);
    expect(Array.from(px)).toEqual([0, 127, 127, 0]);
  });

  it('resamples labels only to values present in the source', () => {
    const labels = new Uint8Array([1, 255, 2, 255, 3, 255]);
    const out = cropResizeNearest(labels, 3, { left: 0, top: 0, width: 3, height: 2 }, 7, 5);
    expect(new Set(out)).toEqual(new Set([1, 255, 2, 3]));
    const mirrored = new Int32Array([1, 2, 3, 4, 5, 6]);
    flip(mirrored, 3, 2, 1, true, true);
    expect(Array.from(mirrored)).toEqual([6, 5, 4, 3, 2, 1]);
  });
});

describe('Barlow Twins augmentation parameters', () => {
  it('follow the reference defaults', () => {
    const augment = vocOptions.parse({}).augment;
    const rng = new Rng(9);
    const n = 2000;
    const count = { flip: [0, 0], blur: [0, 0], solar: [0, 0], gray: [0, 0], jitter: [0, 0] };
    for (let i = 0; i < n; i++) {
      const u = new Uniforms(Array.from({ length: 128 }, () => rng.next()));
      for (const view of [0, 1] as const) {
        const p = sampleViewParams(u, augment, 500, 375, view);
        const area = (p.crop.width * p.crop.height) / (500 * 375);
        expect(area).toBeGreaterThanOrEqual(0.07);
        expect(area).toBeLessThanOrEqual(1);
        expect(p.crop.left + p.crop.width).toBeLessThanOrEqual(500);
        expect(p.crop.top + p.crop.height).toBeLessThanOrEqual(375);
        if (p.blurSigma > 0) {
          expect(p.blurSigma).toBeGreaterThanOrEqual(0.1);
          expect(p.blurSigma).toBeLessThanOrEqual(2);
        }
        if (p.brightnessContrast) {
          expect(Math.abs(p.brightnessContrast.brightness - 1)).toBeLessThanOrEqual(0.4);
          expect(Math.abs(p.brightnessContrast.contrast - 1)).toBeLessThanOrEqual(0.4);
        }
        if (p.hueSaturation) expect(Math.abs(p.hueSaturation.hue)).toBeLessThanOrEqual(0.1);
        count.flip[view] += Number(p.hflip);
        count.blur[view] += Number(p.blurSigma > 0);
        count.solar[view] += Number(p.solar);
        count.gray[view] += Number(p.gray);
        count.jitter[view] += Number(p.brightnessContrast !== undefined);
      }
    }
    const rate = (k: keyof typeof count, view: 0 | 1) => count[k][view] / n;
    expect(rate('blur', 0)).toBe(1);
    expect(rate('solar', 0)).toBe(0);
    for (const view of [0, 1] as const) {
      expect(rate('flip', view)).toBeCloseTo(0.5, 1);
      expect(rate('gray', view)).toBeCloseTo(0.2, 1);
      expect(rate('jitter', view)).toBeCloseTo(0.8, 1);
    }
    expect(rate('blur', 1)).toBeCloseTo(0.1, 1);
    expect(rate('solar', 1)).toBeCloseTo(0.2, 1);
  });

  it('blur smooths the view', async () => {
    const checker = paintSample('checker', 32, 32, (x, y) => [0, ((x >> 1) + (y >> 1)) % 2 ? [230, 230, 230] : [20, 20, 20]]);
    checker.lossless = true;
    const dir = tempDir();
    await writeVocSet(dir, [checker], { train: ['checker'], val: ['checker'] });
    const still = { cropScale: [1, 1], cropRatio: [1, 1], hflip: 0, brightnessContrast: { p: 0 }, hueSaturation: { p: 0 }, grayscale: 0, solarize: [0, 0] };
    const spread = async (blur: number) => {
      const { dm } = makeDataModule({ root: dir, imageSize: 32, workers: 0, batchSize: 1, augment: { ...still, blur: { p: [blur, 0], sigma: [1.5, 1.5] } } });
      await dm.setup('fit');
      const [batch] = await collect(dm.trainBatches(0));
      await dm.teardown();
      const v = Array.from(batch.view1.data);
      const mean = v.reduce((a, b) => a + b, 0) / v.length;
      return v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length;
    };
    expect(await spread(1)).toBeLessThan((await spread(0)) / 4);
  });
});

describe('the generated set', () => {
  it('decodes to exactly the rendered classes and void band, which survive augmentation exactly', async () => {
    const dir = tempDir();
    await synthesizeVoc(dir, { images: 3, seed: 5, minSize: 64, maxSize: 64 });
    const rendered = renderSyntheticSample(5, 0, 64, 64);
    const decoded = await decodeMask(path.join(dir, 'VOCdevkit/VOC2012/SegmentationClass/synth_000001.png'), 21, 255);
    expect(Array.from(decoded.labels)).toEqual(Array.from(rendered.labels));
    expect(rendered.labels.some((v) => v === 255)).toBe(true);
    expect(rendered.labels.some((v) => v > 0 && v < 21)).toBe(true);

    const at = (x: number, y: number) => rendered.labels[y * 64 + x];
    const { dm } = makeDataModule({
      root: dir,
      mode: 'segmentation',
      trainSplit: 'trainval',
      shuffle: false,
      imageSize: 16,
      workers: 0,
      batchSize: 1,
      limit: 1,
      segmentationAugment: { cropScale: [0.5, 0.5], hflip: 0.5, vflip: 0.5 },
    });
    await dm.setup('fit');
    for (let epoch = 0; epoch < 3; epoch++) {
      const [batch] = await collect(dm.trainBatches(epoch));
      expect(matchingCrops(batch.mask.data as Int32Array, 16, 2, at).length).toBeGreaterThan(0);
    }
    await dm.teardown();
  });
});
