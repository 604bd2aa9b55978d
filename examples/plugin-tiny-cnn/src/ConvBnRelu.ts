import { tf, Module, type Rng } from '@bt-platform/sdk';
import { BatchNorm2d, Conv2d } from '@bt-platform/sdk/nn';

/** A 3×3 convolution (stride 2 halves the side), batch norm and ReLU: one stage of TinyCnn. */
export class ConvBnRelu extends Module {
  readonly conv: Conv2d;
  readonly bn: BatchNorm2d;

  constructor(inChannels: number, outChannels: number, stride: number, rng: Rng) {
    super();
    this.conv = this.registerModule('conv', new Conv2d(inChannels, outChannels, { kernel: 3, stride, padding: 1, bias: false, kaiming: true, seed: rng.tfSeed() }));
    this.bn = this.registerModule('bn', new BatchNorm2d(outChannels));
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => tf.relu(this.bn.call(this.conv.call(x))) as tf.Tensor4D);
  }
}
