import * as tf from '@tensorflow/tfjs';
import { BtError } from '@bt-platform/sdk';

/**
 * The central unit of a layer's output, summed over channels and over the batch (each image's
 * gradient only depends on its own output, so one backward pass gives every image's ERF).
 * Feature maps [B, h, w, C] use the centre cell; ViT tokens [B, N(+1), C] are put back on the
 * patch grid of the H × W input, with a leading CLS token skipped.
 */
export function centralUnit(output: unknown, layer: string, imageHeight: number, imageWidth: number): tf.Scalar {
  const tensor = output instanceof tf.Tensor ? output : (output as { featureMap?: tf.Tensor } | undefined)?.featureMap;
  if (tensor?.rank === 4) {
    const [b, h, w, c] = tensor.shape;
    return tf.sum(tf.slice(tensor, [0, Math.floor(h / 2), Math.floor(w / 2), 0], [b, 1, 1, c]));
  }
  if (tensor?.rank === 3) {
    const [b, n, c] = tensor.shape;
    for (const extra of [0, 1]) {
      const patch = Math.sqrt((imageHeight * imageWidth) / (n - extra));
      const gh = imageHeight / patch;
      const gw = imageWidth / patch;
      if (Number.isInteger(gh) && Number.isInteger(gw) && gh * gw === n - extra) {
        const index = extra + Math.floor(gh / 2) * gw + Math.floor(gw / 2);
        return tf.sum(tf.slice(tensor, [0, index, 0], [b, 1, c]));
      }
    }
  }
  const shape = tensor ? `[${tensor.shape}]` : typeof output;
  throw new BtError('RUNTIME', `erf: the output of "${layer}" (${shape}) is neither a feature map [B,h,w,C] nor tokens [B,N,C] on the image's patch grid.`, {
    hint: 'Select layers that output feature maps or patch tokens (e.g. blocks.* of a ViT, layer*.* of a ResNet).',
  });
}
