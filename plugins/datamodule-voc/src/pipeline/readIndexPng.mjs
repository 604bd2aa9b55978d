/**
 * Reads the stored values of a palette or greyscale PNG: for a palette image the palette indices
 * themselves, as PIL's `np.array(Image.open(mask))` gives them, where libvips (sharp) would expand
 * them to the palette's colours. Colour PNGs are only identified; the caller decodes them.
 */
import { crc32, inflateSync } from 'node:zlib';

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

/** Bit depths the PNG specification allows per colour type. */
const DEPTHS = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };

/** sharp's default pixel limit: a larger mask is a corrupt header rather than a real label map. */
const MAX_PIXELS = 0x3fff * 0x3fff;

/** Adam7's seven passes: the first pixel of each and the step between its pixels. */
const ADAM7 = [
  { x: 0, y: 0, dx: 8, dy: 8 },
  { x: 4, y: 0, dx: 8, dy: 8 },
  { x: 0, y: 4, dx: 4, dy: 8 },
  { x: 2, y: 0, dx: 4, dy: 4 },
  { x: 0, y: 2, dx: 2, dy: 4 },
  { x: 1, y: 0, dx: 2, dy: 2 },
  { x: 0, y: 1, dx: 1, dy: 2 },
];
const WHOLE = [{ x: 0, y: 0, dx: 1, dy: 1 }];

/** @param {Uint8Array} bytes */
export function isPng(bytes) {
  return bytes.length >= 8 && SIGNATURE.every((b, i) => bytes[i] === b);
}

/**
 * @param {Uint8Array} bytes a PNG file (see `isPng`)
 * @returns {import('./readIndexPng.d.mts').IndexPng}
 * @throws {Error} saying what is wrong when the file is not a well-formed PNG
 */
export function readIndexPng(bytes) {
  if (!isPng(bytes)) throw new Error('not a PNG file');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  /** @type {ReturnType<typeof readHeader> | undefined} */
  let header;
  const data = [];
  let offset = SIGNATURE.length;
  for (;;) {
    if (offset + 12 > bytes.length) throw new Error('the file ends before its IEND chunk (cut short?)');
    const length = view.getUint32(offset);
    const type = String.fromCharCode(...bytes.subarray(offset + 4, offset + 8));
    const bodyEnd = offset + 8 + length;
    if (bodyEnd + 4 > bytes.length) throw new Error(`its ${type} chunk runs past the end of the file (cut short?)`);
    const body = bytes.subarray(offset + 8, bodyEnd);
    // Ancillary chunks (lower-case first letter) may be skipped unchecked, as PNG readers do.
    const critical = (bytes[offset + 4] & 0x20) === 0;
    if (critical && crc32(bytes.subarray(offset + 4, bodyEnd)) !== view.getUint32(bodyEnd)) {
      throw new Error(`its ${type} chunk fails its checksum (corrupt file)`);
    }
    if (type === 'IHDR') header = readHeader(body);
    else if (type === 'IDAT') data.push(body);
    else if (type === 'IEND') break;
    else if (!header) throw new Error(`its first chunk is ${type}, not IHDR`);
    offset = bodyEnd + 4;
  }
  if (!header) throw new Error('it has no IHDR chunk');
  const { width, height, colourType } = header;
  if (colourType !== 0 && colourType !== 3) return { width, height, colourType };
  if (data.length === 0) throw new Error('it has no IDAT chunk');
  let pixels;
  try {
    pixels = inflateSync(Buffer.concat(data));
  } catch {
    throw new Error('its compressed pixel data is corrupt or cut short');
  }
  return { width, height, colourType, values: unpack(pixels, header) };
}

/** @param {Uint8Array} body */
function readHeader(body) {
  if (body.length !== 13) throw new Error(`its IHDR chunk is ${body.length} bytes, not 13`);
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const width = view.getUint32(0);
  const height = view.getUint32(4);
  const [depth, colourType, compression, filter, interlace] = body.subarray(8);
  if (width === 0 || height === 0 || width * height > MAX_PIXELS) throw new Error(`its header gives an impossible size, ${width}×${height}`);
  const depths = DEPTHS[/** @type {keyof typeof DEPTHS} */ (colourType)];
  if (!depths) throw new Error(`its header gives colour type ${colourType}, which PNG does not define`);
  if (!depths.includes(depth)) throw new Error(`its header gives bit depth ${depth}, which PNG does not allow for colour type ${colourType}`);
  if (compression !== 0 || filter !== 0 || interlace > 1) throw new Error('its header names a compression, filter or interlace method PNG does not define');
  return { width, height, depth, colourType: /** @type {0 | 2 | 3 | 4 | 6} */ (colourType), interlaced: interlace === 1 };
}

/**
 * Unfilters the scanlines of every pass (one pass, or Adam7's seven) and spreads each pass's
 * single-channel samples to their pixels.
 * @param {Buffer} pixels the inflated IDAT stream @param {ReturnType<typeof readHeader>} header
 */
function unpack(pixels, { width, height, depth, interlaced }) {
  const values = depth === 16 ? new Uint16Array(width * height) : new Uint8Array(width * height);
  const bytesPerPixel = depth === 16 ? 2 : 1;
  const mask = (1 << depth) - 1;
  let offset = 0;
  for (const pass of interlaced ? ADAM7 : WHOLE) {
    const w = Math.ceil((width - pass.x) / pass.dx);
    const h = Math.ceil((height - pass.y) / pass.dy);
    if (w <= 0 || h <= 0) continue;
    const lineBytes = Math.ceil((w * depth) / 8);
    let prior = new Uint8Array(lineBytes);
    for (let y = 0; y < h; y++) {
      if (offset + 1 + lineBytes > pixels.length) throw new Error('its pixel data stops before the last row (cut short?)');
      const line = pixels.subarray(offset + 1, offset + 1 + lineBytes);
      unfilter(pixels[offset], line, prior, bytesPerPixel);
      offset += 1 + lineBytes;
      prior = line;
      let at = (pass.y + y * pass.dy) * width + pass.x;
      for (let x = 0; x < w; x++, at += pass.dx) {
        if (depth === 8) values[at] = line[x];
        else if (depth === 16) values[at] = (line[2 * x] << 8) | line[2 * x + 1];
        else values[at] = (line[(x * depth) >> 3] >> (8 - depth - ((x * depth) & 7))) & mask;
      }
    }
  }
  return values;
}

/**
 * Undoes a scanline's filter in place (PNG specification, section 9).
 * @param {number} type @param {Uint8Array} line @param {Uint8Array} prior the unfiltered line above
 * @param {number} bpp bytes per complete pixel, at least 1
 */
function unfilter(type, line, prior, bpp) {
  const n = line.length;
  switch (type) {
    case 0:
      return;
    case 1:
      for (let i = bpp; i < n; i++) line[i] += line[i - bpp];
      return;
    case 2:
      for (let i = 0; i < n; i++) line[i] += prior[i];
      return;
    case 3:
      for (let i = 0; i < n; i++) line[i] += ((i >= bpp ? line[i - bpp] : 0) + prior[i]) >> 1;
      return;
    case 4:
      for (let i = 0; i < n; i++) {
        const a = i >= bpp ? line[i - bpp] : 0;
        const b = prior[i];
        const c = i >= bpp ? prior[i - bpp] : 0;
        const pa = Math.abs(b - c);
        const pb = Math.abs(a - c);
        const pc = Math.abs(a + b - 2 * c);
        line[i] += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      return;
    default:
      throw new Error(`a row has filter type ${type}, which PNG does not define (corrupt file)`);
  }
}
