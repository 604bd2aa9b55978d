import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';

/** A history value that the wandb UI shows as an image (the Python client's `wandb.Image` JSON). */
export interface WandbImageRef {
  _type: 'image-file';
  /** Name of the uploaded run file, e.g. `media/images/attention/val_0_12_<sha256[:20]>.png`. */
  path: string;
  sha256: string;
  size: number;
  format: string;
  width?: number;
  height?: number;
  caption?: string;
}

/** One image to upload: its name among the run's files and where it is on disk (relative to the run directory when inside it). */
export interface MediaFile {
  name: string;
  file: string;
}

/** Width and height from a PNG's IHDR chunk or a JPEG's start-of-frame marker; undefined for other formats. */
export function imageSize(bytes: Uint8Array): { width: number; height: number } | undefined {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.length >= 24 && view.readUInt32BE(0) === 0x89504e47) return { width: view.readUInt32BE(16), height: view.readUInt32BE(20) };
  if (view.length >= 4 && view[0] === 0xff && view[1] === 0xd8) {
    let at = 2;
    while (at + 9 < view.length && view[at] === 0xff) {
      const marker = view[at + 1];
      const length = view.readUInt16BE(at + 2);
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
        return { height: view.readUInt16BE(at + 5), width: view.readUInt16BE(at + 7) };
      }
      at += 2 + length;
    }
  }
  return undefined;
}

/** Reads an image file and describes it the way wandb's image type does, named like the Python client names media. */
export async function imageRef(file: string, key: string, step: number, runDir: string, caption?: string): Promise<{ ref: WandbImageRef; media: MediaFile }> {
  const bytes = await fsp.readFile(file);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const format = path.extname(file).slice(1).toLowerCase() || 'png';
  const safeKey = key.replace(/[^A-Za-z0-9_./-]/g, '_').replace(/\.\.+/g, '_').replace(/^\/+/, '');
  const name = `media/images/${safeKey}_${step}_${sha256.slice(0, 20)}.${format}`;
  const ref: WandbImageRef = { _type: 'image-file', path: name, sha256, size: bytes.length, format, ...imageSize(bytes) };
  if (caption !== undefined) ref.caption = caption;
  const relative = path.relative(runDir, file);
  const inside = relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
  return { ref, media: { name, file: inside ? relative : path.resolve(file) } };
}
