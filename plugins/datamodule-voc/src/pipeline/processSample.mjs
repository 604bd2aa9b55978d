/**
 * Turns one data set sample into model inputs: decodes with sharp, crops and resizes (sharp for images,
 * nearest neighbour for masks), applies the colour augmentations and normalises. Plain JavaScript so
 * that worker threads can load it under jest, tsx and plain node alike.
 */
import sharp from 'sharp';
import { decodeMask } from './decodeMask.mjs';
import { SampleError } from './SampleError.mjs';
import { Uniforms } from './Uniforms.mjs';
import {
  adjustBrightness,
  adjustContrast,
  adjustHue,
  adjustSaturation,
  cropResizeNearest,
  flip,
  grayscale,
  normalize,
  solarize,
} from './transforms.mjs';

/** @param {import('./processSample.d.mts').SampleJob} job */
export async function processSample(job) {
  const image = await decodeImage(job.image);
  if (job.mode === 'barlow-twins') {
    const u = new Uniforms(job.uniforms);
    const view1 = await barlowView(image, job, u, 0);
    const view2 = await barlowView(image, job, u, 1);
    return { view1, view2 };
  }
  if (!job.mask) throw new SampleError(job.image, 'segmentation needs a mask file');
  const mask = await decodeMask(job.mask, job.numClasses, job.ignoreIndex);
  if (mask.width !== image.width || mask.height !== image.height) {
    throw new SampleError(job.mask, `mask is ${mask.width}×${mask.height} but its image ${job.image} is ${image.width}×${image.height}`);
  }
  const sample = await segmentationSample(image, mask, job, new Uniforms(job.uniforms));
  return mask.byColour ? { ...sample, maskByColour: true } : sample;
}

/** @param {string} file */
async function decodeImage(file) {
  try {
    const { data, info } = await sharp(file).toColourspace('srgb').removeAlpha().raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return { data, width: info.width, height: info.height };
  } catch (error) {
    throw new SampleError(file, `cannot decode image (${messageOf(error)})`);
  }
}

/**
 * torchvision's RandomResizedCrop parameters: ten tries at a box of random area and aspect ratio,
 * then a centre crop.
 * @param {Uniforms} u @param {number} width @param {number} height
 * @param {readonly [number, number]} scale @param {readonly [number, number]} ratio
 */
export function sampleResizedCrop(u, width, height, scale, ratio) {
  const area = width * height;
  const logRatio = [Math.log(ratio[0]), Math.log(ratio[1])];
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * u.uniform(scale[0], scale[1]);
    const aspect = Math.exp(u.uniform(logRatio[0], logRatio[1]));
    const w = Math.round(Math.sqrt(targetArea * aspect));
    const h = Math.round(Math.sqrt(targetArea / aspect));
    if (w > 0 && h > 0 && w <= width && h <= height) {
      const top = u.int(height - h + 1);
      const left = u.int(width - w + 1);
      return { left, top, width: w, height: h };
    }
  }
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < ratio[0]) h = Math.round(w / ratio[0]);
  else if (inRatio > ratio[1]) w = Math.round(h * ratio[1]);
  return { left: Math.floor((width - w) / 2), top: Math.floor((height - h) / 2), width: w, height: h };
}

/**
 * One view's random choices, drawn in a fixed order so that a sample's uniforms always mean the same.
 * @param {Uniforms} u @param {import('./processSample.d.mts').BarlowAugment} a
 * @param {number} width @param {number} height @param {0 | 1} view
 */
export function sampleViewParams(u, a, width, height, view) {
  const crop = sampleResizedCrop(u, width, height, a.cropScale, a.cropRatio);
  const hflip = u.bernoulli(a.hflip);
  const bc = a.brightnessContrast;
  const brightnessContrast = u.bernoulli(bc.p)
    ? {
        brightness: u.uniform(Math.max(0, 1 - bc.brightness), 1 + bc.brightness),
        contrast: u.uniform(Math.max(0, 1 - bc.contrast), 1 + bc.contrast),
        brightnessFirst: u.bernoulli(0.5),
      }
    : undefined;
  const hs = a.hueSaturation;
  const hueSaturation = u.bernoulli(hs.p)
    ? {
        saturation: u.uniform(Math.max(0, 1 - hs.saturation), 1 + hs.saturation),
        hue: u.uniform(-hs.hue, hs.hue),
        saturationFirst: u.bernoulli(0.5),
      }
    : undefined;
  const gray = u.bernoulli(a.grayscale);
  const blurSigma = u.bernoulli(a.blur.p[view]) ? u.uniform(a.blur.sigma[0], a.blur.sigma[1]) : 0;
  const solar = u.bernoulli(a.solarize[view]);
  return { crop, hflip, brightnessContrast, hueSaturation, gray, blurSigma, solar };
}

/**
 * A Barlow Twins view. The Gaussian blur runs in libvips, fused with the crop and resize (measured
 * several times faster than on typed arrays, and off the JavaScript thread); it is applied before the
 * colour jitter rather than after, which changes nothing for the linear steps (brightness, saturation,
 * grayscale, contrast up to clamping) and little for the hue rotation.
 * @param {{ data: Buffer, width: number, height: number }} image
 * @param {import('./processSample.d.mts').SampleJob} job @param {Uniforms} u @param {0 | 1} view
 */
async function barlowView(image, job, u, view) {
  const size = job.size;
  const p = sampleViewParams(u, job.barlow, image.width, image.height, view);
  let pipeline = sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .extract(p.crop)
    .resize(size, size, { kernel: 'cubic', fit: 'fill' });
  // libvips' smallest σ is 0.3; below it a Gaussian is all but the identity anyway.
  if (p.blurSigma > 0) pipeline = pipeline.blur(Math.max(0.3, p.blurSigma));
  const px = Float32Array.from(await pipeline.raw().toBuffer());
  flip(px, size, size, 3, p.hflip, false);

  if (p.brightnessContrast) {
    const { brightness, contrast, brightnessFirst } = p.brightnessContrast;
    if (brightnessFirst) {
      adjustBrightness(px, brightness);
      adjustContrast(px, contrast);
    } else {
      adjustContrast(px, contrast);
      adjustBrightness(px, brightness);
    }
  }
  if (p.hueSaturation) {
    const { saturation, hue, saturationFirst } = p.hueSaturation;
    if (saturationFirst) {
      adjustSaturation(px, saturation);
      adjustHue(px, hue);
    } else {
      adjustHue(px, hue);
      adjustSaturation(px, saturation);
    }
  }
  if (p.gray) grayscale(px);
  if (p.solar) solarize(px);

  const out = new Float32Array(size * size * 3);
  normalize(px, job.mean, job.std, out);
  return out;
}

/**
 * @param {{ data: Buffer, width: number, height: number }} image
 * @param {import('./decodeMask.d.mts').DecodedMask} mask
 * @param {import('./processSample.d.mts').SampleJob} job @param {Uniforms} u
 */
async function segmentationSample(image, mask, job, u) {
  const size = job.size;
  let crop = { left: 0, top: 0, width: image.width, height: image.height };
  let hflip = false;
  let vflip = false;
  if (job.train) {
    const a = job.segmentation;
    const s = u.uniform(a.cropScale[0], a.cropScale[1]);
    const w = Math.max(1, Math.round(image.width * s));
    const h = Math.max(1, Math.round(image.height * s));
    crop = { left: u.int(image.width - w + 1), top: u.int(image.height - h + 1), width: w, height: h };
    hflip = u.bernoulli(a.hflip);
    vflip = u.bernoulli(a.vflip);
  }
  const resized = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .extract(crop)
    .resize(size, size, { kernel: 'linear', fit: 'fill' })
    .raw()
    .toBuffer();
  const px = Float32Array.from(resized);
  flip(px, size, size, 3, hflip, vflip);
  const labels = cropResizeNearest(mask.labels, mask.width, crop, size, size);
  flip(labels, size, size, 1, hflip, vflip);
  const out = new Float32Array(size * size * 3);
  normalize(px, job.mean, job.std, out);
  return { image: out, mask: labels };
}

/** @param {unknown} error */
function messageOf(error) {
  return error instanceof Error ? error.message : String(error);
}
