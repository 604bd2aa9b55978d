/** RGB pixels, row-major. */
export interface Raster {
  data: Uint8Array;
  width: number;
  height: number;
}

export interface TextStyle {
  size?: number;
  anchor?: 'start' | 'middle' | 'end';
  weight?: 'normal' | 'bold';
  fill?: string;
  /** Shrinks the font so the text fits this width (estimated from the character count). */
  maxWidth?: number;
}

interface Placed {
  raster: Raster;
  left: number;
  top: number;
  width: number;
  height: number;
  smooth: boolean;
}

/** Width of `text` at font `size`, estimated from its character count (the figure's sans-serif averages about 0.62 em). */
export function textWidth(text: string, size: number): number {
  return 0.62 * size * text.length;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c] as string);
}

/**
 * A figure: rasters placed (and scaled) on a white page, with text and shapes drawn as one SVG
 * layer on top. sharp composites and encodes it to PNG.
 */
export class Figure {
  private readonly rasters: Placed[] = [];
  private readonly shapes: string[] = [];

  constructor(
    readonly width: number,
    readonly height: number,
  ) {}

  /** Places `raster` at (left, top), scaled to width × height (nearest neighbour unless `smooth`). */
  image(raster: Raster, left: number, top: number, width = raster.width, height = raster.height, smooth = false): this {
    this.rasters.push({ raster, left: Math.round(left), top: Math.round(top), width: Math.round(width), height: Math.round(height), smooth });
    return this;
  }

  /** Text with its baseline at y. */
  text(text: string, x: number, y: number, style: TextStyle = {}): this {
    const { anchor = 'start', weight = 'normal', fill = '#000', maxWidth } = style;
    const size = maxWidth ? Math.max(7, Math.min(style.size ?? 14, maxWidth / (0.62 * Math.max(1, text.length)))) : (style.size ?? 14);
    this.shapes.push(
      `<text x="${x}" y="${y}" font-family="DejaVu Sans, Liberation Sans, Arial, sans-serif" font-size="${size.toFixed(1)}" font-weight="${weight}" text-anchor="${anchor}" fill="${fill}">${escapeXml(text)}</text>`,
    );
    return this;
  }

  rect(x: number, y: number, width: number, height: number, fill: string, stroke = 'none'): this {
    this.shapes.push(`<rect x="${x}" y="${y}" width="${width}" height="${height}" fill="${fill}" stroke="${stroke}"/>`);
    return this;
  }

  /** The text and shapes layer as an SVG document (what is drawn over the rasters). */
  svg(): string {
    return `<svg xmlns="http://www.w3.org/2000/svg" width="${this.width}" height="${this.height}">${this.shapes.join('')}</svg>`;
  }

  async toFile(file: string): Promise<void> {
    const sharp = (await import('sharp')).default;
    const layers = await Promise.all(
      this.rasters.map(async (p) => {
        let image = sharp(Buffer.from(p.raster.data.buffer, p.raster.data.byteOffset, p.raster.data.byteLength), {
          raw: { width: p.raster.width, height: p.raster.height, channels: 3 },
        });
        if (p.width !== p.raster.width || p.height !== p.raster.height) {
          image = image.resize(p.width, p.height, { fit: 'fill', kernel: p.smooth ? 'lanczos3' : 'nearest' });
        }
        return { input: await image.png().toBuffer(), left: p.left, top: p.top };
      }),
    );
    if (this.shapes.length) layers.push({ input: Buffer.from(this.svg()), left: 0, top: 0 });
    await sharp({ create: { width: this.width, height: this.height, channels: 3, background: '#ffffff' } })
      .composite(layers)
      .png()
      .toFile(file);
  }
}

/** Reads a PNG back as RGB pixels (for checks). */
export async function readRaster(file: string): Promise<Raster> {
  const sharp = (await import('sharp')).default;
  const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
}
