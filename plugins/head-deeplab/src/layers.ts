import * as tf from '@tensorflow/tfjs';
import { Module, Rng } from '@bt-platform/sdk';

/** nn.ReLU: parameter-free, but a module so Sequential indices (and state-dict names) match torchvision's. */
export class ReLU extends Module {
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.relu(x);
  }
}

/** nn.AdaptiveAvgPool2d(1). */
export class GlobalAvgPool extends Module {
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.mean(x, [1, 2], true);
  }
}

/** nn.Dropout: active only in training. */
export class Dropout extends Module {
  constructor(
    readonly rate: number,
    private readonly rng: Rng,
  ) {
    super();
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return this.training && this.rate > 0 ? (tf.dropout(x, this.rate, undefined, this.rng.tfSeed()) as tf.Tensor4D) : x;
  }
}
