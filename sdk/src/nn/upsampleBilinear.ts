import * as tf from '@tensorflow/tfjs';

/** F.interpolate(mode='bilinear', align_corners=False) on NHWC: tfjs's half-pixel-centre resize is the same sampling. */
export function upsampleBilinear(x: tf.Tensor4D, size: [number, number]): tf.Tensor4D {
  if (x.shape[1] === size[0] && x.shape[2] === size[1]) return x;
  return tf.image.resizeBilinear(x, size, false, true);
}
