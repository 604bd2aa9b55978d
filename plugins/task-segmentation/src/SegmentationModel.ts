import type * as tf from '@tensorflow/tfjs';
import { Module, type Backbone, type Head } from '@bt-platform/sdk';

/** Root of the fine-tuning model: `backbone.…` and `head.…` in the state dict. */
export class SegmentationModel extends Module {
  readonly backbone: Backbone;
  readonly head: Head;

  constructor(backbone: Backbone, head: Head) {
    super();
    this.backbone = this.registerModule('backbone', backbone);
    this.head = this.registerModule('head', head);
  }

  /** Per-pixel logits [B, H, W, classes] at the image's resolution. */
  forward(images: tf.Tensor4D): tf.Tensor4D {
    const [, h, w] = images.shape;
    return this.head.call(this.backbone.call(images), [h, w]);
  }
}
