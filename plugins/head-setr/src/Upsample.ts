import type * as tf from '@tensorflow/tfjs';
import { Module } from '@bt-platform/sdk';
import { upsampleBilinear } from '@bt-platform/sdk/nn';

/** nn.Upsample(scale_factor, mode='bilinear', align_corners=False): no parameters, keeps Sequential indices as in PyTorch. */
export class Upsample extends Module {
  constructor(readonly scale: number) {
    super();
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return upsampleBilinear(x, [x.shape[1] * this.scale, x.shape[2] * this.scale]);
  }
}
