import { existsSync, promises as fsp, readFileSync } from 'node:fs';
import path from 'node:path';
import { Rng } from '@bt-platform/sdk';
import { VOC_IGNORE_INDEX, VOC_NUM_CLASSES, VOC_PALETTE } from './VocClasses.js';

export interface VocSynthSettings {
  images: number;
  seed: number;
  minSize: number;
  maxSize: number;
  /** Share of the images held out for validation, all of them labelled (default 0.5). */
  valFraction?: number;
  /** Share of the training images that have masks (default 1); the others are unlabelled, as most of VOC's are. */
  labelledFraction?: number;
}

export interface VocSynthResult {
  /** The VOC2012 directory written (`<out>/VOCdevkit/VOC2012`). */
  vocDir: string;
  /** Every training image: `ImageSets/Main/train.txt`. */
  train: string[];
  /** The training images with masks: `ImageSets/Segmentation/train.txt`. */
  labelled: string[];
  /** Validation images, all with masks: `val.txt` in both folders. */
  val: string[];
}

type Rgb = [number, number, number];
type Shape = 'disc' | 'box' | 'triangle' | 'ellipse' | 'diamond';
type Texture = 'solid' | 'stripes' | 'checks' | 'gradient';

const SHAPES: Shape[] = ['disc', 'box', 'triangle', 'ellipse', 'diamond'];
const TEXTURES: Texture[] = ['solid', 'stripes', 'checks', 'gradient'];
/** Written at the set's root: the settings it was generated with. */
export const SYNTH_STAMP = 'bt-synth.json';
/** Changes when the same settings would draw other images. */
const GENERATOR_VERSION = 2;

/** Width of the void band VOC draws around object outlines, in pixels on each side. */
const VOID_BAND = 2;

/**
 * Writes a small PASCAL VOC 2012–format data set: JPEG images of varied sizes (a third portrait),
 * palette PNG masks with a void band around every object, and split files laid out as VOC's:
 * `ImageSets/Main` lists every image, `ImageSets/Segmentation` only those with masks (VOC 2012 has
 * 11540 images in Main's trainval and masks for 2913), so that self-supervised pre-training can use
 * many images and segmentation few. Each class has its own shape, texture and colour statistics,
 * with per-object variation, so segmentation is learnable. Deterministic for a seed.
 */
export async function synthesizeVoc(out: string, settings: VocSynthSettings): Promise<VocSynthResult> {
  const { images, seed } = settings;
  const minSize = Math.min(settings.minSize, settings.maxSize);
  const maxSize = Math.max(settings.minSize, settings.maxSize);
  const vocDir = path.join(out, 'VOCdevkit', 'VOC2012');
  const jpegDir = path.join(vocDir, 'JPEGImages');
  const maskDir = path.join(vocDir, 'SegmentationClass');
  const mainDir = path.join(vocDir, 'ImageSets', 'Main');
  const segmentationDir = path.join(vocDir, 'ImageSets', 'Segmentation');
  await Promise.all([jpegDir, maskDir, mainDir, segmentationDir].map((d) => fsp.mkdir(d, { recursive: true })));
  const { default: sharp } = await import('sharp');
  const { encode } = await import('fast-png');
  const palette = VOC_PALETTE.map((c) => [c[0], c[1], c[2]]);

  const { train, labelled, val } = splitIds(
    Array.from({ length: images }, (_, n) => sampleId(n)),
    seed,
    settings.valFraction ?? 0.5,
    settings.labelledFraction ?? 1,
  );
  const withMask = new Set([...labelled, ...val]);
  for (let n = 0; n < images; n++) {
    const { id, width, height, rgb, labels } = renderSyntheticSample(seed, n, minSize, maxSize);
    const jpeg = await sharp(rgb, { raw: { width, height, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
    await fsp.writeFile(path.join(jpegDir, `${id}.jpg`), jpeg);
    if (withMask.has(id)) await fsp.writeFile(path.join(maskDir, `${id}.png`), encode({ width, height, data: labels, channels: 1, depth: 8, palette }));
  }

  const lines = (list: string[]) => list.map((id) => `${id}\n`).join('');
  const write = (dir: string, split: string, list: string[]) => fsp.writeFile(path.join(dir, `${split}.txt`), lines(list));
  await write(mainDir, 'train', train);
  await write(mainDir, 'val', val);
  await write(mainDir, 'trainval', [...train, ...val].sort());
  await write(segmentationDir, 'train', labelled);
  await write(segmentationDir, 'val', val);
  await write(segmentationDir, 'trainval', [...labelled, ...val].sort());
  await fsp.writeFile(path.join(out, SYNTH_STAMP), `${JSON.stringify(stamp(settings), null, 2)}\n`);
  return { vocDir, train, labelled, val };
}

function stamp(settings: VocSynthSettings): Record<string, number> {
  const { images, seed, minSize, maxSize, valFraction = 0.5, labelledFraction = 1 } = settings;
  return { generator: GENERATOR_VERSION, images, seed, minSize, maxSize, valFraction, labelledFraction };
}

/**
 * How the synthetic set at `root` differs from what `settings` would generate (`images 256
 * (now 1024)`, …), or undefined when it matches or carries no stamp (a set made by another tool).
 */
export function synthDifference(root: string, settings: VocSynthSettings): string | undefined {
  const file = path.join(root, SYNTH_STAMP);
  if (!existsSync(file)) {
    // Sets generated before the stamp existed still carry the generator's image names; other sets
    // (real VOC, another tool's) are not second-guessed.
    const generatedBefore = existsSync(path.join(root, 'VOCdevkit', 'VOC2012', 'JPEGImages', `${sampleId(0)}.jpg`));
    return generatedBefore ? `an earlier version of the generator (no ${SYNTH_STAMP})` : undefined;
  }
  let written: Record<string, unknown>;
  try {
    written = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    return `an unreadable ${SYNTH_STAMP}`;
  }
  const wanted = stamp(settings);
  const changed = Object.keys(wanted).filter((key) => written[key] !== wanted[key]);
  return changed.length ? changed.map((key) => `${key} ${String(written[key])} (now ${wanted[key]})`).join(', ') : undefined;
}

/** Validation, training and labelled training ids: each list non-empty and sorted. */
function splitIds(ids: string[], seed: number, valFraction: number, labelledFraction: number) {
  const order = new Rng(seed).fork('voc-synth', 'split').shuffle([...ids]);
  const trainCount = Math.max(1, Math.min(ids.length - 1, Math.round(ids.length * (1 - valFraction))));
  const train = order.slice(0, trainCount);
  const labelledCount = Math.max(1, Math.min(train.length, Math.round(train.length * labelledFraction)));
  const labelled = new Rng(seed).fork('voc-synth', 'labelled').shuffle([...train]).slice(0, labelledCount);
  return { train: train.sort(), labelled: labelled.sort(), val: order.slice(trainCount).sort() };
}

function sampleId(index: number): string {
  return `synth_${String(index + 1).padStart(6, '0')}`;
}

/** Image `index` of the synthetic set of `seed`: its id, size, RGB pixels and class indices (255 = void). */
export function renderSyntheticSample(seed: number, index: number, minSize: number, maxSize: number) {
  const r = new Rng(seed).fork('voc-synth', 'image', index);
  let width = minSize + r.int(maxSize - minSize + 1);
  let height = minSize + r.int(maxSize - minSize + 1);
  // A third of the images are portrait, like VOC's.
  if ((index % 3 === 2) !== height > width) [width, height] = [height, width];
  const { rgb, labels } = renderScene(r, width, height);
  return { id: sampleId(index), width, height, rgb, labels };
}

/** The look of class `c`: its shape, texture and colour statistics are functions of the class alone. */
function classStyle(c: number): { shape: Shape; texture: Texture; hue: number } {
  return {
    shape: SHAPES[c % SHAPES.length],
    texture: TEXTURES[Math.floor(c / SHAPES.length) % TEXTURES.length],
    hue: (c * 0.381966) % 1,
  };
}

/**
 * Most VOC photos show one or two classes: every further object repeats the first object's class
 * with this probability. It also makes two crops of one image likely to show the same class, the
 * structure self-supervised pre-training can find without labels.
 */
const SAME_CLASS = 0.7;

function renderScene(r: Rng, width: number, height: number): { rgb: Uint8Array; labels: Uint8Array } {
  const rgb = new Uint8Array(width * height * 3);
  const labels = new Uint8Array(width * height);
  paintBackground(r, rgb, width, height);

  const objects = 1 + r.int(3);
  const first = 1 + r.int(VOC_NUM_CLASSES - 1);
  for (let k = 0; k < objects; k++) {
    const c = k === 0 || r.bernoulli(SAME_CLASS) ? first : 1 + r.int(VOC_NUM_CLASSES - 1);
    paintObject(r, c, rgb, labels, width, height);
  }
  markVoidBands(labels, width, height);
  return { rgb, labels };
}

/** One object of class `c`: its class's shape, texture and colours, at a random size, place and angle, with its own tint. */
function paintObject(r: Rng, c: number, rgb: Uint8Array, labels: Uint8Array, width: number, height: number): void {
  const style = classStyle(c);
  const side = Math.min(width, height);
  const rx = side * r.uniform(0.15, 0.32);
  const ry = style.shape === 'ellipse' ? rx * r.uniform(0.45, 0.7) : style.shape === 'box' ? rx * r.uniform(0.6, 1.2) : rx;
  const reach = Math.max(rx, ry);
  const cx = r.uniform(reach, width - reach);
  const cy = r.uniform(reach, height - reach);
  const angle = style.shape === 'disc' ? 0 : r.uniform(-0.6, 0.6);
  const [cos, sin] = [Math.cos(angle), Math.sin(angle)];
  // Each object varies around its class's colour statistics, as instances of a real class do.
  const hue = (style.hue + r.normal(0, 0.02) + 1) % 1;
  // Lighting varies widely from object to object: the same class is bright or dim, vivid or pale.
  const colour = hsvToRgb(hue, r.uniform(0.35, 0.95), r.uniform(0.4, 1));
  const accent = hsvToRgb((hue + 0.5) % 1, r.uniform(0.45, 0.75), r.uniform(0.25, 0.45));
  const period = Math.max(4, Math.round(side / r.uniform(10, 16)));
  for (let y = Math.max(0, Math.floor(cy - reach)); y < Math.min(height, Math.ceil(cy + reach + 1)); y++) {
    for (let x = Math.max(0, Math.floor(cx - reach)); x < Math.min(width, Math.ceil(cx + reach + 1)); x++) {
      // Coordinates in the object's own frame, so that its texture turns with it.
      const u = cos * (x + 0.5 - cx) + sin * (y + 0.5 - cy);
      const v = -sin * (x + 0.5 - cx) + cos * (y + 0.5 - cy);
      const dx = u / rx;
      const dy = v / ry;
      if (!inside(style.shape, dx, dy)) continue;
      const i = y * width + x;
      labels[i] = c;
      const useAccent =
        style.texture === 'stripes'
          ? Math.floor((u + v + 2 * reach) / period) % 2 === 1
          : style.texture === 'checks'
            ? (Math.floor((u + reach) / period) + Math.floor((v + reach) / period)) % 2 === 1
            : false;
      const base = useAccent ? accent : colour;
      const shade = style.texture === 'gradient' ? 0.55 + 0.45 * (1 - (dy + 1) / 2) : 1;
      for (let ch = 0; ch < 3; ch++) rgb[i * 3 + ch] = clamp(base[ch] * shade + r.normal(0, 4));
    }
  }
}

function inside(shape: Shape, dx: number, dy: number): boolean {
  switch (shape) {
    case 'disc':
    case 'ellipse':
      return dx * dx + dy * dy <= 1;
    case 'box':
      return Math.abs(dx) <= 0.9 && Math.abs(dy) <= 0.9;
    case 'triangle':
      return dy <= 0.9 && dy >= -0.9 && Math.abs(dx) <= (dy + 0.9) / 1.8;
    case 'diamond':
      return Math.abs(dx) + Math.abs(dy) <= 1;
  }
}

/**
 * Gradients, stripes or smooth blotches in random muted colours, plus sensor-like noise. Muted, so
 * that what varies most from one image to the next is the objects it shows, not its backdrop.
 */
function paintBackground(r: Rng, rgb: Uint8Array, width: number, height: number): void {
  const a = hsvToRgb(r.next(), r.uniform(0.05, 0.25), r.uniform(0.35, 0.75));
  const b = hsvToRgb(r.next(), r.uniform(0.05, 0.25), r.uniform(0.35, 0.75));
  const style = r.int(4);
  const angle = r.uniform(0, Math.PI);
  const freq = r.uniform(2, 6);
  const phase = r.uniform(0, 2 * Math.PI);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const u = x / width;
      const v = y / height;
      let t: number;
      if (style === 0) t = v;
      else if (style === 1) t = u;
      else if (style === 2) t = 0.5 + 0.5 * Math.sin(2 * Math.PI * freq * (u * Math.cos(angle) + v * Math.sin(angle)) + phase);
      else t = 0.5 + 0.25 * (Math.sin(freq * 4 * u + phase) + Math.cos(freq * 3 * v - phase));
      const o = (y * width + x) * 3;
      for (let ch = 0; ch < 3; ch++) rgb[o + ch] = clamp(a[ch] * (1 - t) + b[ch] * t + r.normal(0, 6));
    }
  }
}

/** Marks pixels within VOID_BAND of a boundary between two different labels as void, as VOC's annotators did. */
function markVoidBands(labels: Uint8Array, width: number, height: number): void {
  const source = labels.slice();
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const own = source[y * width + x];
      let edge = false;
      for (let yy = Math.max(0, y - VOID_BAND); yy <= Math.min(height - 1, y + VOID_BAND) && !edge; yy++) {
        for (let xx = Math.max(0, x - VOID_BAND); xx <= Math.min(width - 1, x + VOID_BAND); xx++) {
          if (source[yy * width + xx] !== own) {
            edge = true;
            break;
          }
        }
      }
      if (edge) labels[y * width + x] = VOC_IGNORE_INDEX;
    }
  }
}

function hsvToRgb(h: number, s: number, v: number): Rgb {
  const k = Math.floor(h * 6);
  const f = h * 6 - k;
  const p = v * (1 - s);
  const q = v * (1 - f * s);
  const t = v * (1 - (1 - f) * s);
  const [r, g, b] = [
    [v, t, p],
    [q, v, p],
    [p, v, t],
    [p, q, v],
    [t, p, v],
    [v, p, q],
  ][k % 6];
  return [r * 255, g * 255, b * 255];
}

function clamp(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
}
