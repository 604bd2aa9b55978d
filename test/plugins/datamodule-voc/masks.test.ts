import { writeFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { VOC_PALETTE } from '@bt-platform/plugin-datamodule-voc';
import { decodeMask } from '../../../plugins/datamodule-voc/src/pipeline/decodeMask.mjs';
import { SampleError } from '../../../plugins/datamodule-voc/src/pipeline/SampleError.mjs';
import { collect, makeDataModule, paintSample, tempDir, writeVocSet } from './vocTestKit.js';
import { writePng, type PngSpec } from './writePng.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const W = 13;
const H = 11;

/** Labels over every class and void, with a pattern that repeats neither along rows nor columns. */
const labels = Uint8Array.from({ length: W * H }, (_, i) => {
  const v = (i * 7 + Math.floor(i / W) * 3) % 22;
  return v === 21 ? 255 : v;
});

const vocColours = VOC_PALETTE.map(([r, g, b]) => [r, g, b] as const);
/** VOC's colours in another order: index i is drawn in the colour VOC gives to index 37·i + 11 (mod 256). */
const shuffled = vocColours.map((_, i) => vocColours[(37 * i + 11) % 256]);
/** A palette sharing no colour with VOC's. */
const greys = vocColours.map((_, i) => [i, i, (i * 3) % 256] as const);

let dir: string;
beforeAll(() => {
  dir = tempDir('bt-voc-masks-');
});

function save(name: string, spec: PngSpec): string {
  const file = path.join(dir, name);
  writeFileSync(file, writePng(spec));
  return file;
}

const palettePng = (palette: typeof vocColours, extra: Partial<PngSpec> = {}): PngSpec => ({
  width: W,
  height: H,
  colourType: 3,
  depth: 8,
  samples: labels,
  palette,
  ...extra,
});

async function expectSampleError(promise: Promise<unknown>, ...parts: string[]): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SampleError);
  for (const part of parts) expect((error as Error).message).toContain(part);
}

describe('palette masks are read by index, as PIL reads them', () => {
  it.each([
    ['shuffled VOC colours', shuffled],
    ['colours that are not VOC colours', greys],
    ['the VOC colour map', vocColours],
  ])('reads the indices of a palette of %s', async (_, palette) => {
    const file = save(`palette-${palette === shuffled ? 'shuffled' : palette === greys ? 'greys' : 'voc'}.png`, palettePng(palette));
    // The file really draws the labels in those colours (an independent decoder expands the palette).
    const rgb = await sharp(file).raw().toBuffer();
    expect(Array.from(rgb.subarray(0, 6))).toEqual([...palette[labels[0]], ...palette[labels[1]]]);

    const mask = await decodeMask(file, 21, 255);
    expect([mask.width, mask.height]).toEqual([W, H]);
    expect(Array.from(mask.labels)).toEqual(Array.from(labels));
    expect(mask.byColour).toBe(false);
  });

  it.each([
    [1, false],
    [2, false],
    [4, false],
    [8, false],
    [1, true],
    [2, true],
    [4, true],
    [8, true],
  ] as const)('unpacks %i-bit indices (Adam7 interlaced: %s)', async (depth, interlace) => {
    const values = labels.map((v) => (depth === 8 ? v : v % (1 << depth)));
    // A palette holds at most 2^depth colours.
    const palette = shuffled.slice(0, 1 << depth);
    const file = save(`depth${depth}${interlace ? '-adam7' : ''}.png`, palettePng(palette, { depth, interlace, samples: values }));
    const rgb = await sharp(file).raw().toBuffer();
    expect(Array.from(rgb)).toEqual(Array.from(values).flatMap((v) => [...palette[v]]));

    const mask = await decodeMask(file, 21, 255);
    expect(Array.from(mask.labels)).toEqual(Array.from(values));
  });

  it('feeds the indices, not the colours, to segmentation batches', async () => {
    const root = tempDir();
    const sample = paintSample('shuffled', W, H, (x, y) => [labels[y * W + x], [90, 90, 90]]);
    sample.maskBytes = writePng(palettePng(shuffled));
    sample.lossless = true;
    await writeVocSet(root, [sample], { train: ['shuffled'], val: ['shuffled'] });
    const { dm, messages } = makeDataModule({ root, mode: 'segmentation', imageSize: W, workers: 1, valBatchSize: 1, strict: true });
    await dm.setup('fit');
    // W ≠ H: validation resizes to a square, so compare the nearest-neighbour samples.
    const [batch] = await collect(dm.valBatches());
    const expected = Array.from({ length: W * W }, (_, i) => labels[Math.floor(((Math.floor(i / W) + 0.5) * H) / W) * W + (i % W)]);
    expect(Array.from(batch.mask.data)).toEqual(expected);
    await dm.teardown();
    expect(messages.warn).toEqual([]);
  });
});

describe('greyscale masks hold the class indices', () => {
  it.each([
    [8, false],
    [8, true],
    [16, false],
  ] as const)('reads a %i-bit greyscale (L) mask (Adam7 interlaced: %s)', async (depth, interlace) => {
    const file = save(`grey${depth}${interlace ? '-adam7' : ''}.png`, { width: W, height: H, colourType: 0, depth, samples: labels, interlace });
    const mask = await decodeMask(file, 21, 255);
    expect(Array.from(mask.labels)).toEqual(Array.from(labels));
    expect(mask.byColour).toBe(false);
  });

  it('rejects a value that is neither a class nor void, naming the file, the pixel and the value', async () => {
    const values = Uint8Array.from(labels);
    values[2 * W + 5] = 30;
    const file = save('grey-30.png', { width: W, height: H, colourType: 0, depth: 8, samples: values });
    await expectSampleError(decodeMask(file, 21, 255), file, 'pixel (5, 2)', 'class 30', '0–20 or 255');
  });

  it('rejects a palette index that is neither a class nor void', async () => {
    const values = Uint8Array.from(labels);
    values[W + 1] = 200;
    const file = save('palette-200.png', palettePng(vocColours, { samples: values }));
    await expectSampleError(decodeMask(file, 21, 255), file, 'pixel (1, 1)', 'class 200');
  });

  it('rejects greyscale with alpha, saying which mask formats are read', async () => {
    const samples = Array.from(labels).flatMap((v) => [v, 255]);
    const file = save('grey-alpha.png', { width: W, height: H, colourType: 4, depth: 8, samples });
    await expectSampleError(decodeMask(file, 21, 255), file, 'greyscale PNG with alpha', 'palette PNGs');
  });
});

describe('RGB masks fall back to the VOC colours', () => {
  const rgbOf = (channels: 3 | 4) => Array.from(labels).flatMap((v) => (channels === 3 ? [...vocColours[v]] : [...vocColours[v], 255]));

  it.each([
    [2, 3],
    [6, 4],
  ] as const)('maps the colours of a colour type %i PNG back to classes', async (colourType, channels) => {
    const file = save(`rgb${channels}.png`, { width: W, height: H, colourType, depth: 8, samples: rgbOf(channels) });
    const mask = await decodeMask(file, 21, 255);
    expect(Array.from(mask.labels)).toEqual(Array.from(labels));
    expect(mask.byColour).toBe(true);
  });

  it('rejects a colour outside the VOC colour map', async () => {
    const samples = rgbOf(3);
    samples.splice(3 * (W + 2), 3, 1, 2, 3);
    const file = save('rgb-odd.png', { width: W, height: H, colourType: 2, depth: 8, samples });
    await expectSampleError(decodeMask(file, 21, 255), file, 'pixel (2, 1)', '(1, 2, 3)', 'not in the VOC palette');
  });

  it.each([0, 1])('says once per run, naming a file, that RGB masks are matched by colour (workers: %i)', async (workers) => {
    const root = tempDir();
    const samples = ['a', 'b', 'c'].map((id) => paintSample(id, W, H, (x, y) => [labels[y * W + x], [90, 90, 90]]));
    samples[0].maskBytes = writePng(palettePng(vocColours));
    for (const s of samples.slice(1)) s.maskBytes = writePng({ width: W, height: H, colourType: 2, depth: 8, samples: rgbOf(3) });
    await writeVocSet(root, samples, { train: ['a', 'b', 'c'], val: ['c'] });
    const { dm, messages } = makeDataModule({ root, mode: 'segmentation', imageSize: 8, batchSize: 3, workers, shuffle: false, strict: true });
    await dm.setup('fit');
    for (const epoch of [0, 1]) expect(await collect(dm.trainBatches(epoch))).toHaveLength(1);
    await collect(dm.valBatches());
    await dm.teardown();
    const colourWarnings = messages.warn.filter((m) => m.includes('colour'));
    expect(colourWarnings).toHaveLength(1);
    expect(colourWarnings[0]).toMatch(/SegmentationClass.(b|c)\.png/);
    expect(colourWarnings[0]).toContain('Palette PNGs');
  });
});

describe('broken PNG masks', () => {
  it('reports a mask cut short as undecodable', async () => {
    const bytes = writePng(palettePng(vocColours));
    const file = path.join(dir, 'cut.png');
    writeFileSync(file, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    await expectSampleError(decodeMask(file, 21, 255), file, 'cannot decode mask');
  });

  it('reports a missing mask as undecodable', async () => {
    const file = path.join(dir, 'absent.png');
    await expectSampleError(decodeMask(file, 21, 255), file, 'cannot decode mask');
  });
});
