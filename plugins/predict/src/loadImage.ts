export interface LoadedImage {
  file: string;
  width: number;
  height: number;
  /** Model input: `size`×`size`×3, normalised with the datamodule's mean and std. */
  input: Float32Array;
  /** The decoded RGB pixels at the original size (only when asked for, e.g. for overlays). */
  rgb?: Buffer;
}

export interface ImageTransform {
  size: number;
  mean: readonly number[];
  std: readonly number[];
}

/**
 * Decodes an image as the validation pipeline does (sRGB, alpha dropped, bilinear resize to a
 * square, `(x / 255 − mean) / std`); EXIF orientation is applied so that masks match the image
 * as viewers show it.
 */
export async function loadImage(file: string, transform: ImageTransform, keepRgb: boolean): Promise<LoadedImage> {
  const { default: sharp } = await import('sharp');
  const { data, info } = await sharp(file).rotate().toColourspace('srgb').removeAlpha().raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
  const { size, mean, std } = transform;
  const resized = await sharp(data, { raw: { width: info.width, height: info.height, channels: 3 } })
    .resize(size, size, { kernel: 'linear', fit: 'fill' })
    .raw()
    .toBuffer();
  // The validation pipeline's arithmetic exactly, so that the same file gives the same logits.
  const scale = [0, 1, 2].map((c) => 1 / (255 * std[c]));
  const shift = [0, 1, 2].map((c) => mean[c] / std[c]);
  const input = new Float32Array(size * size * 3);
  for (let i = 0; i < input.length; i += 3) {
    for (let c = 0; c < 3; c++) input[i + c] = resized[i + c] * scale[c] - shift[c];
  }
  return { file, width: info.width, height: info.height, input, rgb: keepRgb ? data : undefined };
}
