import * as tf from '@tensorflow/tfjs';
import type { Module } from '@bt-platform/sdk';
import { centralUnit } from './centralUnit.js';

const NAME = 'erf';

/**
 * Effective receptive fields: the gradient of a layer's central output unit with respect to the
 * input image, |·| summed over colour channels and averaged over images. The layer's output is
 * caught by its forward hook inside the gradient computation, so the model runs unmodified.
 * The central unit is taken in the hook itself and kept, since models dispose intermediate
 * outputs when their forward returns (the gradient tape keeps what the backward pass needs).
 */
export class EffectiveReceptiveField {
  private captured: tf.Scalar | undefined;

  constructor(private readonly model: Module) {}

  /** Sum over `images` [B, H, W, 3] of each image's ERF of `layer`, as an [H, W] tensor. */
  sum(layer: [string, Module], images: tf.Tensor4D): tf.Tensor2D {
    const [name, module] = layer;
    const [, height, width] = images.shape;
    // Tapped only for this pass: some modules compute differently while observed.
    const untap = module.observeForward(NAME, (event) => {
      if (this.captured !== undefined) return;
      this.captured = tf.keep(centralUnit(event.output, name, height, width));
    });
    const modes = this.model.namedModules().map(([, m]) => [m, m.training] as const);
    this.model.eval();
    try {
      return tf.tidy(() => {
        const gradient = tf.grad((x: tf.Tensor) => {
          this.captured = undefined;
          this.model.call(x);
          if (this.captured === undefined) throw new Error(`erf: "${name}" did not run in the forward pass`);
          return this.captured;
        })(images);
        return tf.sum(tf.sum(tf.abs(gradient), -1), 0) as tf.Tensor2D;
      });
    } finally {
      untap();
      this.captured?.dispose();
      this.captured = undefined;
      for (const [m, training] of modes) m.training = training;
    }
  }
}
