import { crc32, deflateSync } from 'node:zlib';

/** PNG colour types: 0 greyscale, 2 RGB, 3 palette, 4 greyscale + alpha, 6 RGBA. */
export type ColourType = 0 | 2 | 3 | 4 | 6;

export interface PngSpec {
  width: number;
  height: number;
  colourType: ColourType;
  depth: 1 | 2 | 4 | 8 | 16;
  /** Sample values, channel-interleaved, one entry per sample whatever the depth. */
  samples: ArrayLike<number>;
  palette?: ReadonlyArray<readonly [number, number, number]>;
  /** Adam7 interlacing. */
  interlace?: boolean;
}

const CHANNELS: Record<ColourType, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/**
 * Encodes a PNG byte by byte, so tests control what encoders choose for themselves: the palette's
 * order, the bit depth, interlacing. Rows cycle through the five filter types, and the pixel data is
 * split over two IDAT chunks, so a reader meets every filter and chunk boundary.
 */
export function writePng(spec: PngSpec): Buffer {
  const { width, height, colourType, depth } = spec;
  const channels = CHANNELS[colourType];
  const rows: Buffer[] = [];
  let row = 0;
  for (const pass of spec.interlace ? ADAM7 : [{ x: 0, y: 0, dx: 1, dy: 1 }]) {
    const w = Math.ceil((width - pass.x) / pass.dx);
    const h = Math.ceil((height - pass.y) / pass.dy);
    if (w <= 0 || h <= 0) continue;
    let prior: Buffer = Buffer.alloc(Math.ceil((w * channels * depth) / 8));
    for (let y = 0; y < h; y++) {
      const values: number[] = [];
      for (let x = 0; x < w; x++) {
        const pixel = (pass.y + y * pass.dy) * width + pass.x + x * pass.dx;
        for (let c = 0; c < channels; c++) values.push(spec.samples[pixel * channels + c]);
      }
      const raw = pack(values, depth, prior.length);
      rows.push(filter(row++ % 5, raw, prior, Math.max(1, (channels * depth) / 8)));
      prior = raw;
    }
  }
  const data = deflateSync(Buffer.concat(rows));
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([depth, colourType, 0, 0, spec.interlace ? 1 : 0], 8);
  const half = data.length >> 1;
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', header),
    ...(spec.palette ? [chunk('PLTE', Buffer.from(spec.palette.flat()))] : []),
    chunk('IDAT', data.subarray(0, half)),
    chunk('IDAT', data.subarray(half)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const ADAM7 = [
  { x: 0, y: 0, dx: 8, dy: 8 },
  { x: 4, y: 0, dx: 8, dy: 8 },
  { x: 0, y: 4, dx: 4, dy: 8 },
  { x: 2, y: 0, dx: 4, dy: 4 },
  { x: 0, y: 2, dx: 2, dy: 4 },
  { x: 1, y: 0, dx: 2, dy: 2 },
  { x: 0, y: 1, dx: 1, dy: 2 },
];

function pack(values: number[], depth: number, bytes: number): Buffer {
  const out = Buffer.alloc(bytes);
  values.forEach((v, i) => {
    if (depth === 16) out.writeUInt16BE(v, 2 * i);
    else if (depth === 8) out[i] = v;
    else out[(i * depth) >> 3] |= v << (8 - depth - ((i * depth) & 7));
  });
  return out;
}

function filter(type: number, raw: Buffer, prior: Buffer, bpp: number): Buffer {
  const out = Buffer.alloc(raw.length + 1);
  out[0] = type;
  for (let i = 0; i < raw.length; i++) {
    const left = i >= bpp ? raw[i - bpp] : 0;
    const up = prior[i];
    const upLeft = i >= bpp ? prior[i - bpp] : 0;
    const predictor = [0, left, up, (left + up) >> 1, paeth(left, up, upLeft)][type];
    out[i + 1] = (raw[i] - predictor) & 255;
  }
  return out;
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

function chunk(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(body.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body, crc32(head.subarray(4))), 0);
  return Buffer.concat([head, body, crc]);
}
