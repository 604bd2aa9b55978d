import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { Rng } from '@bt-platform/sdk';
import { VOC_IGNORE_INDEX, VOC_NUM_CLASSES, VOC_PALETTE } from './VocClasses.js';

export interface VocSynthSettings {
  images: number;
  seed: number;
  minSize: number;
  maxSize: number;
}

export interface VocSynthResult {
  /** The VOC2012 directory written (`<out>/VOCdevkit/VOC2012`). */
  vocDir: string;
  train: string[];
  val: string[];
}

type Rgb = [number, number, number];
type Shape = 'disc' | 'box' | 'triangle' | 'ellipse' | 'diamond';
type Texture = 'solid' | 'stripes' | 'checks' | 'gradient';

const SHAPES: Shape[] = ['disc', 'box', 'triangle', 'ellipse', 'diamond'];
const TEXTURES: Texture[] = ['solid', 'stripes', 'checks', 'gradient'];
/** Width of the void band VOC draws around object outlines, in pixels on each side. */
const VOID_BAND = 2;

/**
 * Writes a small PASCAL VOC 2012–format data set: JPEG images of varied sizes (a third portrait),
 * palette PNG masks with a void band around every object, and the segmentation split files. Each
 * class has its own shape, colour and texture, so segmentation is learnable. Deterministic for a seed.
 */
export async function synthesizeVoc(out: string, settings: VocSynthSettings): Promise<VocSynthResult> {
  const { images, seed } = settings;
  const minSize = Math.min(settings.minSize, settings.maxSize);
  const maxSize = Math.max(settings.minSize, settings.maxSize);
  const vocDir = path.join(out, 'VOCdevkit', 'VOC2012');
  const jpegDir = path.join(vocDir, 'JPEGImages');
  const maskDir = path.join(vocDir, 'SegmentationClass');
  const splitDir = path.join(vocDir, 'ImageSets', 'Segmentation');
  await Promise.all([jpegDir, maskDir, splitDir].map((d) => fsp.mkdir(d, { recursive: true })));
  const { default: sharp } = await import('sharp');
  const { encode } = await import('fast-png');
  const palette = VOC_PALETTE.map((c) => [c[0], c[1], c[2]]);

  const ids: string[] = [];
  for (let n = 0; n < images; n++) {
    const { id, width, height, rgb, labels } = renderSyntheticSample(seed, n, minSize, maxSize);
    ids.push(id);
    const jpeg = await sharp(rgb, { raw: { width, height, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
    const png = encode({ width, height, data: labels, channels: 1, depth: 8, palette });
    await fsp.writeFile(path.join(jpegDir, `${id}.jpg`), jpeg);
    await fsp.writeFile(path.join(maskDir, `${id}.png`), png);
  }

  const order = new Rng(seed).fork('voc-synth', 'split').shuffle([...ids]);
  const trainCount = Math.max(1, Math.min(ids.length - 1, Math.round(ids.length / 2)));
  const train = order.slice(0, trainCount).sort();
  const val = order.slice(trainCount).sort();
  const lines = (list: string[]) => list.map((id) => `${id}\n`).join('');
  await fsp.writeFile(path.join(splitDir, 'train.txt'), lines(train));
  await fsp.writeFile(path.join(splitDir, 'val.txt'), lines(val));
  await fsp.writeFile(path.join(splitDir, 'trainval.txt'), lines([...ids]));
  return { vocDir, train, val };
}

/** Image `index` of the synthetic set of `seed`: its id, size, RGB pixels and class indices (255 = void). */
export function renderSyntheticSample(seed: number, index: number, minSize: number, maxSize: number) {
  const r = new Rng(seed).fork('voc-synth', 'image', index);
  let width = minSize + r.int(maxSize - minSize + 1);
  let height = minSize + r.int(maxSize - minSize + 1);
  // A third of the images are portrait, like VOC's.
  if ((index % 3 === 2) !== height > width) [width, height] = [height, width];
  const { rgb, labels } = renderScene(r, width, height);
  return { id: `synth_${String(index + 1).padStart(6, '0')}`, width, height, rgb, labels };
}

/** The look of class `c`: shape, texture and colour are functions of the class alone. */
function classStyle(c: number): { shape: Shape; texture: Texture; colour: Rgb; accent: Rgb } {
  const hue = (c * 0.381966) % 1;
  return {
    shape: SHAPES[c % SHAPES.length],
    texture: TEXTURES[Math.floor(c / SHAPES.length) % TEXTURES.length],
    colour: hsvToRgb(hue, 0.75, 0.9),
    accent: hsvToRgb((hue + 0.5) % 1, 0.6, 0.35),
  };
}

function renderScene(r: Rng, width: number, height: number): { rgb: Uint8Array; labels: Uint8Array } {
  const rgb = new Uint8Array(width * height * 3);
  const labels = new Uint8Array(width * height);
  paintBackground(r, rgb, width, height);

  const objects = 1 + r.int(3);
  for (let k = 0; k < objects; k++) {
    const c = 1 + r.int(VOC_NUM_CLASSES - 1);
    const style = classStyle(c);
    const side = Math.min(width, height);
    const rx = side * r.uniform(0.15, 0.32);
    const ry = style.shape === 'ellipse' ? rx * r.uniform(0.45, 0.7) : style.shape === 'box' ? rx * r.uniform(0.6, 1.2) : rx;
    const cx = r.uniform(rx, width - rx);
    const cy = r.uniform(ry, height - ry);
    const tint = r.uniform(0.85, 1.1);
    const period = Math.max(4, Math.round(side / r.uniform(10, 16)));
    for (let y = Math.max(0, Math.floor(cy - ry)); y < Math.min(height, Math.ceil(cy + ry + 1)); y++) {
      for (let x = Math.max(0, Math.floor(cx - rx)); x < Math.min(width, Math.ceil(cx + rx + 1)); x++) {
        const dx = (x + 0.5 - cx) / rx;
        const dy = (y + 0.5 - cy) / ry;
        if (!inside(style.shape, dx, dy)) continue;
        const i = y * width + x;
        labels[i] = c;
        const useAccent =
          style.texture === 'stripes' ? Math.floor((x + y) / period) % 2 === 1 : style.texture === 'checks' ? (Math.floor(x / period) + Math.floor(y / period)) % 2 === 1 : false;
        const base = useAccent ? style.accent : style.colour;
        const shade = style.texture === 'gradient' ? 0.55 + 0.45 * (1 - (dy + 1) / 2) : 1;
        for (let ch = 0; ch < 3; ch++) rgb[i * 3 + ch] = clamp(base[ch] * tint * shade + r.normal(0, 4));
      }
    }
  }
  markVoidBands(labels, width, height);
  return { rgb, labels };
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

/** Gradients, stripes or smooth blotches in random muted colours, plus sensor-like noise. */
function paintBackground(r: Rng, rgb: Uint8Array, width: number, height: number): void {
  const a = hsvToRgb(r.next(), r.uniform(0.1, 0.45), r.uniform(0.3, 0.85));
  const b = hsvToRgb(r.next(), r.uniform(0.1, 0.45), r.uniform(0.3, 0.85));
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
