import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { decode } from 'fast-png';
import sharp from 'sharp';
import { BtError, Slots, type RunSession } from '@bt-platform/sdk';
import { synthesizeVoc, VOC_PALETTE, type VocDataModule } from '../../../plugins/datamodule-voc/src/index.js';
import { predict, resizeNearest, writeNpy } from '../../../plugins/predict/src/index.js';
import { commandContext, withSession, writeInitialCheckpoint, writeSegmentationConfig } from './session.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'bt-predict-'));
const root = path.join(tmp, 'voc');
const config = writeSegmentationConfig(path.join(tmp, 'config'), root);
const checkpoint = path.join(tmp, 'model.safetensors');
const images = path.join(tmp, 'images');

function readNpy(file: string): { shape: number[]; data: Float32Array } {
  const bytes = readFileSync(file);
  const headerLength = bytes.readUInt16LE(8);
  const header = bytes.subarray(10, 10 + headerLength).toString('latin1');
  expect(header).toMatch(/'descr': '<f4', 'fortran_order': False/);
  const shape = header.match(/'shape': \(([^)]*)\)/)![1].split(',').filter((s) => s.trim()).map(Number);
  const body = bytes.subarray(10 + headerLength);
  return { shape, data: new Float32Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength)) };
}

beforeAll(async () => {
  await synthesizeVoc(root, { images: 6, seed: 1, minSize: 40, maxSize: 60 });
  await writeInitialCheckpoint(config, checkpoint);
  mkdirSync(path.join(images, 'nested'), { recursive: true });
  // Odd sizes and formats: an RGBA PNG, a grayscale JPEG in a subdirectory.
  const noise = (w: number, h: number, c: number) => Buffer.from(Array.from({ length: w * h * c }, (_, i) => (i * 37) % 251));
  await sharp(noise(37, 53, 4), { raw: { width: 37, height: 53, channels: 4 } }).png().toFile(path.join(images, 'odd.png'));
  await sharp(noise(101, 29, 1), { raw: { width: 101, height: 29, channels: 1 } }).jpeg().toFile(path.join(images, 'nested', 'wide.jpg'));
});

describe('resizeNearest', () => {
  test('maps each output pixel centre to the source pixel under it', () => {
    expect(Array.from(resizeNearest([1, 2, 3, 4], 2, 2, 4, 3))).toEqual([1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
    expect(Array.from(resizeNearest([5, 6, 7, 8, 9, 10], 3, 2, 2, 1))).toEqual([8, 10]);
  });
});

describe('writeNpy', () => {
  test.each([
    ['embeddings-2x3.npy', [2, 3], (i: number) => (i - 2.5) / 3],
    ['embeddings-1x70.npy', [1, 70], (i: number) => -1 + (2 * i) / 69],
  ])('writes the same bytes as numpy.save: %s', (name, shape, value) => {
    const reference = readFileSync(new URL(`../../fixtures/predict/${name}`, import.meta.url));
    const data = Float32Array.from({ length: shape[0] * shape[1] }, (_, i) => value(i));
    const file = path.join(tmp, name);
    writeNpy(file, data, shape);
    const written = readFileSync(file);
    // Headers must match byte for byte; values may differ in the last bit of linspace's rounding.
    const headerEnd = 10 + reference.readUInt16LE(8);
    expect(written.subarray(0, headerEnd).toString('latin1')).toBe(reference.subarray(0, headerEnd).toString('latin1'));
    expect(Array.from(readNpy(file).data)).toEqual(Array.from(readNpy(new URL(`../../fixtures/predict/${name}`, import.meta.url).pathname).data).map((v) => expect.closeTo(v, 6)));
  });
});

describe('predict', () => {
  test('masks of odd-sized images have the original size, valid class indices and the VOC palette, and match the validation pipeline', async () => {
    const { ctx, warnings } = commandContext(tmp);
    const lines: string[] = [];
    let tensorsAfterLoad = -1;
    let tensorsAtClose = -2;
    // Counts live tensors once the model is loaded and when the session closes: prediction must leave none behind.
    const counting = {
      ...ctx,
      openSession: async (o: Parameters<typeof ctx.openSession>[0]) => {
        const session = await ctx.openSession(o);
        return {
          ...session,
          get: session.get,
          loadWeights: async (file: string) => {
            const state = await session.loadWeights(file);
            await session.get(Slots.head);
            tensorsAfterLoad = tf.memory().numTensors;
            return state;
          },
          close: async () => {
            tensorsAtClose = tf.memory().numTensors;
            await session.close();
          },
        } as RunSession;
      },
    };
    const out = path.join(tmp, 'out-masks');
    const jpegs = path.join(root, 'VOCdevkit', 'VOC2012', 'JPEGImages');
    const result = await predict({ config, checkpoint, input: [images, jpegs], out, batchSize: 3 }, counting, (line) => lines.push(line));
    expect(warnings).toEqual([]);
    expect(tensorsAtClose).toBe(tensorsAfterLoad);
    expect(result.images).toHaveLength(8);
    expect(result.images.map((i) => path.basename(i.file)).slice(0, 2)).toEqual(['wide.jpg', 'odd.png']);
    const palette = VOC_PALETTE.slice(0, 21).map((c) => [...c]);
    for (const image of result.images) {
      const meta = await sharp(image.file).metadata();
      const png = decode(readFileSync(path.join(out, image.mask!)));
      expect([png.width, png.height, png.channels, png.depth]).toEqual([meta.width, meta.height, 1, 8]);
      expect(png.palette!.slice(0, 21)).toEqual(palette);
      expect(Math.max(...png.data)).toBeLessThan(21);
      const areas = Object.values(image.areas!);
      expect(areas.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
    }
    expect(lines).toHaveLength(8);
    expect(lines[1]).toMatch(/^images\/odd\.png \(37×53\) → odd\.png: \w+ \d+\.\d%/);
    const summary = JSON.parse(readFileSync(path.join(out, 'predictions.json'), 'utf8'));
    expect(summary.images).toHaveLength(8);

    // The val split through the datamodule's own pipeline, argmax at 32×32, resized back: the same masks.
    await withSession(config, async (session) => {
      await session.loadWeights(checkpoint);
      const dm = (await session.get(Slots.datamodule)) as VocDataModule;
      const task = await session.get(Slots.task);
      task.model.eval();
      await dm.setup('validate');
      const samples = dm.samples('val');
      let index = 0;
      let varied = false;
      for await (const batch of dm.valBatches()) {
        const labels = tf.tidy(() => tf.argMax(task.model.call(batch.image as tf.Tensor4D) as tf.Tensor4D, -1));
        const data = labels.dataSync();
        tf.dispose([labels, ...Object.values(batch)]);
        for (let i = 0; i < data.length / 1024; i++, index++) {
          const prediction = result.images.find((p) => p.file === samples[index].image)!;
          const expected = resizeNearest(data.subarray(i * 1024, (i + 1) * 1024), 32, 32, prediction.width, prediction.height);
          const png = decode(readFileSync(path.join(out, prediction.mask!)));
          expect(Buffer.from(png.data as Uint8Array).equals(Buffer.from(expected))).toBe(true);
          varied ||= new Set(expected).size > 1;
        }
      }
      expect(index).toBe(samples.length);
      expect(varied).toBe(true);
    });
  });

  test('--overlay blends the mask over the image at its size; unreadable files are skipped with a warning naming them', async () => {
    const dir = path.join(tmp, 'mixed');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'broken.jpg'), 'not a jpeg at all');
    const { ctx, warnings } = commandContext(tmp);
    const out = path.join(tmp, 'out-overlay');
    const result = await predict({ config, checkpoint, input: [dir, path.join(images, 'odd.png')], out, overlay: true }, ctx, () => {});
    expect(result.skipped.map((s) => s.file)).toEqual([path.join(dir, 'broken.jpg')]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(path.join(dir, 'broken.jpg'));
    expect(result.images).toHaveLength(1);
    const overlay = await sharp(path.join(out, 'odd.overlay.png')).raw().toBuffer({ resolveWithObject: true });
    expect([overlay.info.width, overlay.info.height]).toEqual([37, 53]);
    const original = await sharp(path.join(images, 'odd.png')).removeAlpha().raw().toBuffer();
    const mask = decode(readFileSync(path.join(out, 'odd.png'))).data;
    // Background pixels keep the image; other classes are half their palette colour.
    for (let i = 0; i < mask.length; i += 7) {
      const k = mask[i];
      for (let c = 0; c < 3; c++) {
        const expected = k === 0 ? original[i * 3 + c] : Math.round(0.5 * original[i * 3 + c] + 0.5 * VOC_PALETTE[k][c]);
        expect(overlay.data[i * 3 + c]).toBe(expected);
      }
    }
  });

  test('no input images, a missing path, or a checkpoint of another model are clear errors', async () => {
    const { ctx } = commandContext(tmp);
    const empty = path.join(tmp, 'empty');
    mkdirSync(empty, { recursive: true });
    await expect(predict({ config, checkpoint, input: [empty], out: path.join(tmp, 'o1') }, ctx)).rejects.toMatchObject({ code: 'DATA_MISSING', message: expect.stringContaining(empty) });
    await expect(predict({ config, checkpoint, input: ['no/such/dir'], out: path.join(tmp, 'o2') }, ctx)).rejects.toMatchObject({ code: 'DATA_MISSING', message: expect.stringContaining('no/such/dir') });

    const other = path.join(tmp, 'other.safetensors');
    await writeInitialCheckpoint(config, other, ['model.backbone.embedDim=16']);
    const error = await predict({ config, checkpoint: other, input: [images], out: path.join(tmp, 'o3') }, ctx).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BtError);
    expect(error).toMatchObject({ code: 'CHECKPOINT_MISMATCH', message: expect.stringMatching(/shape mismatches: .*embed/) });

    // A pipeline whose last stage starts from an earlier stage's checkpoint: that input is dropped
    // (the weights come from --checkpoint), so predicting from the last stage works.
    const pipeline = writeSegmentationConfig(path.join(tmp, 'pipeline'), root, {
      stages: [{ name: 'first' }, { name: 'second', task: { use: 'segmentation', backboneCheckpoint: '${stages.first.checkpoint}' } }],
    });
    const fromPipeline = await predict({ config: pipeline, checkpoint, input: [images], out: path.join(tmp, 'o6') }, ctx);
    expect(fromPipeline.images.length).toBeGreaterThan(0);
  });

  test('--embed writes the pooled backbone embedding of each image to embeddings.npy, in the order of embeddings.json', async () => {
    const { ctx } = commandContext(tmp);
    const out = path.join(tmp, 'out-embed');
    const lines: string[] = [];
    const result = await predict({ config, checkpoint, input: [images], out, embed: true, batchSize: 1 }, ctx, (l) => lines.push(l));
    expect(result.embeddings!.shape).toEqual([2, 32]);
    const { shape, data } = readNpy(path.join(out, 'embeddings.npy'));
    expect(shape).toEqual([2, 32]);
    const meta = JSON.parse(readFileSync(path.join(out, 'embeddings.json'), 'utf8'));
    expect(meta.files.map((f: string) => path.basename(f))).toEqual(['wide.jpg', 'odd.png']);
    expect(lines.at(-1)).toMatch(/2 embedding\(s\) of 32 features/);
    // Each row is the backbone's CLS output for that image, computed here directly.
    await withSession(config, async (session) => {
      await session.loadWeights(checkpoint);
      const backbone = await session.get(Slots.backbone);
      backbone.eval();
      const { loadImage } = await import('../../../plugins/predict/src/loadImage.js');
      for (const [row, file] of meta.files.entries()) {
        const image = await loadImage(file, { size: 32, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] }, false);
        const pooled = tf.tidy(() => backbone.call(tf.tensor4d(image.input, [1, 32, 32, 3])).pooled.dataSync());
        expect(Array.from(data.subarray(row * 32, (row + 1) * 32))).toEqual(Array.from(pooled).map((v) => expect.closeTo(v, 5)));
      }
    });
  });

  test('a config without a head asks for --embed', async () => {
    const { ctx } = commandContext(tmp);
    const barlow = writeSegmentationConfig(path.join(tmp, 'bt-config'), root, { data: { use: 'voc', root, imageSize: 32, batchSize: 4, workers: 0 }, task: { use: 'barlow-twins', projectorDim: 16 } });
    const withoutHead = readFileSync(barlow, 'utf8').replace(/\n {2}head:\n {4}use: linear/, '');
    writeFileSync(barlow, withoutHead);
    await expect(predict({ config: barlow, checkpoint, input: [images], out: path.join(tmp, 'o4') }, ctx)).rejects.toMatchObject({ code: 'CONFIG_INVALID', hint: expect.stringContaining('--embed') });
    // The segmentation checkpoint's backbone serves the Barlow Twins config's embeddings.
    const result = await predict({ config: barlow, checkpoint, input: [images], out: path.join(tmp, 'o5'), embed: true }, ctx, () => {});
    expect(result.embeddings!.shape).toEqual([2, 32]);
  });
});
