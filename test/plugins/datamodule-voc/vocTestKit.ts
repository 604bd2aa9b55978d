import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { encode } from 'fast-png';
import { Rng, type BatchStream } from '@bt-platform/sdk';
import { VOC_PALETTE, VocDataModule, vocOptions, type VocContext } from '@bt-platform/plugin-datamodule-voc';

export function tempDir(prefix = 'bt-voc-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A run context whose log and summary the test can read. */
export function testContext(seed = 1, base = os.tmpdir()) {
  const messages: { info: string[]; warn: string[] } = { info: [], warn: [] };
  const summary: Record<string, string | number | boolean> = {};
  const ctx: VocContext = {
    rng: new Rng(seed),
    log: { debug() {}, info: (m) => messages.info.push(m), warn: (m) => messages.warn.push(m), error: (m) => messages.warn.push(m) },
    resolvePath: (p) => path.resolve(base, p),
    setSummary: (key, value) => {
      summary[key] = value;
    },
  };
  return { ctx, messages, summary };
}

export function makeDataModule(options: Record<string, unknown>, seed = 1) {
  const context = testContext(seed);
  return { dm: new VocDataModule(vocOptions.parse(options), context.ctx), ...context };
}

export interface CollectedBatch {
  [key: string]: { shape: number[]; dtype: string; data: Float32Array | Int32Array };
}

/** Reads every batch into plain arrays and disposes the tensors. */
export async function collect(stream: BatchStream): Promise<CollectedBatch[]> {
  const out: CollectedBatch[] = [];
  for await (const batch of stream) {
    const entry: CollectedBatch = {};
    for (const [key, tensor] of Object.entries(batch)) {
      entry[key] = { shape: tensor.shape, dtype: tensor.dtype, data: tensor.dataSync().slice() as Float32Array | Int32Array };
    }
    tf.dispose(Object.values(batch));
    out.push(entry);
  }
  return out;
}

export interface HandSample {
  id: string;
  width: number;
  height: number;
  /** Interleaved RGB. */
  rgb: Uint8Array;
  /** Class index per pixel (255 = void). */
  labels: Uint8Array;
  /** Overrides of the written files' bytes (to make corrupt ones). */
  imageBytes?: Uint8Array;
  maskBytes?: Uint8Array;
  /** Write the image as a lossless PNG (sharp reads by content, whatever the extension). */
  lossless?: boolean;
}

/** Writes samples in the VOCdevkit/VOC2012 layout; masks are palette PNGs with VOC's colour map. */
export async function writeVocSet(root: string, samples: HandSample[], splits: Record<string, string[]>): Promise<string> {
  const voc = path.join(root, 'VOCdevkit', 'VOC2012');
  for (const d of ['JPEGImages', 'SegmentationClass', 'ImageSets/Segmentation']) mkdirSync(path.join(voc, d), { recursive: true });
  const palette = VOC_PALETTE.map((c) => [c[0], c[1], c[2]]);
  for (const s of samples) {
    const raw = sharp(Buffer.from(s.rgb), { raw: { width: s.width, height: s.height, channels: 3 } });
    const image = s.imageBytes ?? (s.lossless ? await raw.png().toBuffer() : await raw.jpeg({ quality: 100 }).toBuffer());
    writeFileSync(path.join(voc, 'JPEGImages', `${s.id}.jpg`), image);
    const mask = s.maskBytes ?? encode({ width: s.width, height: s.height, data: s.labels, channels: 1, depth: 8, palette });
    writeFileSync(path.join(voc, 'SegmentationClass', `${s.id}.png`), mask);
  }
  for (const [name, ids] of Object.entries(splits)) writeFileSync(path.join(voc, 'ImageSets', 'Segmentation', `${name}.txt`), ids.join('\n') + '\n');
  return voc;
}

/** A sample whose pixels are filled by `f(x, y) => [class, [r, g, b]]`. */
export function paintSample(id: string, width: number, height: number, f: (x: number, y: number) => [number, [number, number, number]]): HandSample {
  const rgb = new Uint8Array(width * height * 3);
  const labels = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [label, colour] = f(x, y);
      labels[y * width + x] = label;
      rgb.set(colour, (y * width + x) * 3);
    }
  }
  return { id, width, height, rgb, labels };
}

export function sameArray(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
