import type * as tf from '@tensorflow/tfjs';
import { Module, type Backbone, type Sequential } from '@bt-platform/sdk';

/** Root of the pre-training model: `backbone.…` and `projector.…` in the state dict. */
export class BarlowTwinsModel extends Module {
  readonly backbone: Backbone;
  readonly projector: Sequential;

  constructor(backbone: Backbone, projector: Sequential) {
    super();
    this.backbone = this.registerModule('backbone', backbone);
    this.projector = this.registerModule('projector', projector);
  }

  /** The projector's embedding of one view. */
  forward(images: tf.Tensor4D): tf.Tensor2D {
    const features = this.backbone.call(images);
    return this.projector.call(features.pooled) as tf.Tensor2D;
  }
}
