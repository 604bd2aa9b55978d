/**
 * Pixel transforms on interleaved RGB buffers of values in [0, 255] (Float32Array), and nearest-neighbour
 * resampling of label maps. Colour transforms follow torchvision's definitions.
 */

const LUMA_R = 0.299;
const LUMA_G = 0.587;
const LUMA_B = 0.114;

/** @param {Float32Array} px @param {number} factor */
export function adjustBrightness(px, factor) {
  for (let i = 0; i < px.length; i++) px[i] = clamp255(px[i] * factor);
}

/** Blends with the mean grey level of the whole image. @param {Float32Array} px @param {number} factor */
export function adjustContrast(px, factor) {
  let sum = 0;
  for (let i = 0; i < px.length; i += 3) sum += LUMA_R * px[i] + LUMA_G * px[i + 1] + LUMA_B * px[i + 2];
  const mean = sum / (px.length / 3);
  for (let i = 0; i < px.length; i++) px[i] = clamp255((px[i] - mean) * factor + mean);
}

/** Blends each pixel with its own grey level. @param {Float32Array} px @param {number} factor */
export function adjustSaturation(px, factor) {
  for (let i = 0; i < px.length; i += 3) {
    const grey = LUMA_R * px[i] + LUMA_G * px[i + 1] + LUMA_B * px[i + 2];
    px[i] = clamp255((px[i] - grey) * factor + grey);
    px[i + 1] = clamp255((px[i + 1] - grey) * factor + grey);
    px[i + 2] = clamp255((px[i + 2] - grey) * factor + grey);
  }
}

/** Rotates the hue (HSV) by `shift` turns, shift in [-0.5, 0.5]. @param {Float32Array} px @param {number} shift */
export function adjustHue(px, shift) {
  for (let i = 0; i < px.length; i += 3) {
    const r = px[i];
    const g = px[i + 1];
    const b = px[i + 2];
    const max = Math.max(r, g, b);
    const min = Math.min(r, g, b);
    const delta = max - min;
    if (delta === 0) continue;
    let h;
    if (max === r) h = (g - b) / delta;
    else if (max === g) h = 2 + (b - r) / delta;
    else h = 4 + (r - g) / delta;
    h = h / 6 + shift;
    h -= Math.floor(h);
    const sector = h * 6;
    const k = Math.floor(sector);
    const f = sector - k;
    const p = min;
    const q = max - delta * f;
    const t = min + delta * f;
    switch (k % 6) {
      case 0: px[i] = max; px[i + 1] = t; px[i + 2] = p; break;
      case 1: px[i] = q; px[i + 1] = max; px[i + 2] = p; break;
      case 2: px[i] = p; px[i + 1] = max; px[i + 2] = t; break;
      case 3: px[i] = p; px[i + 1] = q; px[i + 2] = max; break;
      case 4: px[i] = t; px[i + 1] = p; px[i + 2] = max; break;
      default: px[i] = max; px[i + 1] = p; px[i + 2] = q;
    }
  }
}

/** @param {Float32Array} px */
export function grayscale(px) {
  for (let i = 0; i < px.length; i += 3) {
    const grey = LUMA_R * px[i] + LUMA_G * px[i + 1] + LUMA_B * px[i + 2];
    px[i] = grey;
    px[i + 1] = grey;
    px[i + 2] = grey;
  }
}

/** Inverts values at or above 128, as PIL's ImageOps.solarize does. @param {Float32Array} px */
export function solarize(px) {
  for (let i = 0; i < px.length; i++) if (px[i] >= 128) px[i] = 255 - px[i];
}

/**
 * Mirrors an interleaved image in place.
 * @param {Float32Array | Uint8Array} px @param {number} width @param {number} height @param {number} channels
 * @param {boolean} horizontal @param {boolean} vertical
 */
export function flip(px, width, height, channels, horizontal, vertical) {
  if (horizontal) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width >> 1; x++) {
        const a = (y * width + x) * channels;
        const b = (y * width + (width - 1 - x)) * channels;
        for (let c = 0; c < channels; c++) {
          const t = px[a + c];
          px[a + c] = px[b + c];
          px[b + c] = t;
        }
      }
    }
  }
  if (vertical) {
    const rowLength = width * channels;
    const tmp = px.slice(0, rowLength);
    for (let y = 0; y < height >> 1; y++) {
      const a = y * rowLength;
      const b = (height - 1 - y) * rowLength;
      tmp.set(px.subarray(a, a + rowLength));
      px.copyWithin(a, b, b + rowLength);
      px.set(tmp, b);
    }
  }
}

/**
 * Crops a label map and resamples it to outWidth×outHeight by nearest neighbour (pixel centres, as
 * PIL's NEAREST), so every output value is an input value: 255 stays void, never blends into a class.
 * @param {Uint8Array} labels @param {number} width
 * @param {{ left: number, top: number, width: number, height: number }} crop
 * @param {number} outWidth @param {number} outHeight
 * @returns {Int32Array}
 */
export function cropResizeNearest(labels, width, crop, outWidth, outHeight) {
  const out = new Int32Array(outWidth * outHeight);
  const xs = new Int32Array(outWidth);
  for (let x = 0; x < outWidth; x++) xs[x] = crop.left + Math.min(crop.width - 1, Math.floor(((x + 0.5) * crop.width) / outWidth));
  for (let y = 0; y < outHeight; y++) {
    const sy = crop.top + Math.min(crop.height - 1, Math.floor(((y + 0.5) * crop.height) / outHeight));
    const row = sy * width;
    for (let x = 0; x < outWidth; x++) out[y * outWidth + x] = labels[row + xs[x]];
  }
  return out;
}

/**
 * Writes (px / 255 - mean) / std into `out`.
 * @param {Float32Array} px @param {readonly number[]} mean @param {readonly number[]} std @param {Float32Array} out
 */
export function normalize(px, mean, std, out) {
  const scale = [1 / (255 * std[0]), 1 / (255 * std[1]), 1 / (255 * std[2])];
  const shift = [mean[0] / std[0], mean[1] / std[1], mean[2] / std[2]];
  for (let i = 0; i < px.length; i += 3) {
    out[i] = px[i] * scale[0] - shift[0];
    out[i + 1] = px[i + 1] * scale[1] - shift[1];
    out[i + 2] = px[i + 2] * scale[2] - shift[2];
  }
}

/** @param {number} v */
function clamp255(v) {
  return v < 0 ? 0 : v > 255 ? 255 : v;
}
