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
  private target: { module: Module; name: string; height: number; width: number } | undefined;
  private captured: tf.Scalar | undefined;
  private readonly tapped = new Set<Module>();

  constructor(private readonly model: Module) {}

  /** Sum over `images` [B, H, W, 3] of each image's ERF of `layer`, as an [H, W] tensor. */
  sum(layer: [string, Module], images: tf.Tensor4D): tf.Tensor2D {
    const [name, module] = layer;
    this.tap(module);
    const [, height, width] = images.shape;
    const modes = this.model.namedModules().map(([, m]) => [m, m.training] as const);
    this.model.eval();
    this.target = { module, name, height, width };
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
      this.target = undefined;
      this.captured?.dispose();
      this.captured = undefined;
      for (const [m, training] of modes) m.training = training;
    }
  }

  /** Taps a layer once; the tap does nothing unless that layer is the current target. */
  private tap(module: Module): void {
    if (this.tapped.has(module)) return;
    this.tapped.add(module);
    module.forwardHook.tap(NAME, (event) => {
      const target = this.target;
      if (target?.module !== module || this.captured !== undefined) return;
      this.captured = tf.keep(centralUnit(event.output, target.name, target.height, target.width));
    });
  }
}
