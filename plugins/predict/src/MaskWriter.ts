import { writeFileSync } from 'node:fs';

export type Palette = ReadonlyArray<readonly [number, number, number]>;

/** PASCAL VOC's colour map: what masks are drawn with when the datamodule brings no palette. */
export function vocColourMap(entries = 256): Palette {
  return Array.from({ length: entries }, (_, k) => {
    const rgb: [number, number, number] = [0, 0, 0];
    for (let bit = 0, c = k; c > 0; bit++, c >>= 3) for (let ch = 0; ch < 3; ch++) rgb[ch] |= ((c >> ch) & 1) << (7 - bit);
    return rgb;
  });
}

/** Writes masks as indexed PNGs (pixel value = class index) and blended previews. */
export class MaskWriter {
  constructor(
    private readonly palette: Palette,
    /** Class drawn without colour in overlays (background), if any. */
    private readonly background?: number,
    private readonly alpha = 0.5,
  ) {}

  async writeMask(file: string, labels: Uint8Array, width: number, height: number): Promise<void> {
    const { encode } = await import('fast-png');
    const palette = this.palette.slice(0, 256).map((c) => [c[0], c[1], c[2]]);
    writeFileSync(file, encode({ width, height, data: labels, channels: 1, depth: 8, palette }));
  }

  async writeOverlay(file: string, rgb: Uint8Array, labels: Uint8Array, width: number, height: number): Promise<void> {
    const { default: sharp } = await import('sharp');
    const out = Buffer.alloc(width * height * 3);
    const a = this.alpha;
    for (let i = 0; i < labels.length; i++) {
      const k = labels[i];
      const colour = this.palette[k];
      for (let c = 0; c < 3; c++) {
        const v = rgb[i * 3 + c];
        out[i * 3 + c] = k === this.background || !colour ? v : Math.round((1 - a) * v + a * colour[c]);
      }
    }
    await sharp(out, { raw: { width, height, channels: 3 } }).png().toFile(file);
  }
}
