/**
 * Mask files to class indices, read as PIL's `np.array(Image.open(mask))` reads them (and so as
 * MMSegmentation and torchvision do): a palette PNG gives its palette indices whatever colours its
 * palette holds, a greyscale PNG its grey values. Only colour masks (RGB(A) PNGs, other formats) are
 * matched against VOC's colour map, and the result says so.
 */
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { paletteIndexOf } from './palette.mjs';
import { isPng, readIndexPng } from './readIndexPng.mjs';
import { SampleError } from './SampleError.mjs';

const FORMATS = 'save masks as palette PNGs or 8-bit greyscale PNGs of class indices';

/** @param {string} file @param {number} numClasses @param {number} ignoreIndex */
export async function decodeMask(file, numClasses, ignoreIndex) {
  let bytes;
  try {
    bytes = await readFile(file);
  } catch (error) {
    throw new SampleError(file, `cannot decode mask (${readFailure(error)})`);
  }
  if (isPng(bytes)) {
    let png;
    try {
      png = readIndexPng(bytes);
    } catch (error) {
      throw new SampleError(file, `cannot decode mask (${messageOf(error)})`);
    }
    if (png.values) return { labels: checkedLabels(file, png.values, png.width, numClasses, ignoreIndex), width: png.width, height: png.height, byColour: false };
    if (png.colourType === 4) throw new SampleError(file, `mask is a greyscale PNG with alpha, which holds no class indices as such; ${FORMATS}`);
  }
  return decodeByColour(file, bytes, numClasses, ignoreIndex);
}

/**
 * @param {string} file @param {Uint8Array | Uint16Array} values @param {number} width
 * @param {number} numClasses @param {number} ignoreIndex
 */
function checkedLabels(file, values, width, numClasses, ignoreIndex) {
  const labels = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (value >= numClasses && value !== ignoreIndex) throw outOfRange(file, i, width, value, numClasses, ignoreIndex);
    labels[i] = value;
  }
  return labels;
}

/** @param {string} file @param {Buffer} bytes @param {number} numClasses @param {number} ignoreIndex */
async function decodeByColour(file, bytes, numClasses, ignoreIndex) {
  let decoded;
  try {
    decoded = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
  } catch (error) {
    throw new SampleError(file, `cannot decode mask (${messageOf(error)})`);
  }
  const { data, info } = decoded;
  const pixels = info.width * info.height;
  const labels = new Uint8Array(pixels);
  const channels = info.channels;
  for (let i = 0; i < pixels; i++) {
    const o = i * channels;
    const value = channels >= 3 ? paletteIndexOf(data[o], data[o + 1], data[o + 2]) : data[o];
    if (value < 0) {
      throw new SampleError(file, `pixel ${at(i, info.width)} has colour (${data[o]}, ${data[o + 1]}, ${data[o + 2]}), which is not in the VOC palette (colour masks are read by VOC's colours; ${FORMATS})`);
    }
    if (value >= numClasses && value !== ignoreIndex) throw outOfRange(file, i, info.width, value, numClasses, ignoreIndex);
    labels[i] = value;
  }
  return { labels, width: info.width, height: info.height, byColour: channels >= 3 };
}

/**
 * @param {string} file @param {number} i @param {number} width @param {number} value
 * @param {number} numClasses @param {number} ignoreIndex
 */
function outOfRange(file, i, width, value, numClasses, ignoreIndex) {
  return new SampleError(file, `pixel ${at(i, width)} has class ${value}; expected 0–${numClasses - 1} or ${ignoreIndex} (void)`);
}

/** @param {number} i @param {number} width */
function at(i, width) {
  return `(${i % width}, ${Math.floor(i / width)})`;
}

/** @param {unknown} error */
function readFailure(error) {
  const code = /** @type {{ code?: string }} */ (error).code;
  if (code === 'ENOENT') return 'the file does not exist';
  if (code === 'EISDIR') return 'it is a directory';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  return messageOf(error);
}

/** @param {unknown} error */
function messageOf(error) {
  return error instanceof Error ? error.message : String(error);
}
