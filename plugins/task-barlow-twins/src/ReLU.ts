import * as tf from '@tensorflow/tfjs';
import { Module } from '@bt-platform/sdk';

/** A parameterless module, so projector indices match PyTorch's nn.Sequential. */
export class ReLU extends Module {
  forward(x: tf.Tensor): tf.Tensor {
    return tf.relu(x);
  }
}
