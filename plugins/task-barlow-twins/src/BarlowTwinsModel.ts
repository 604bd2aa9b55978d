import * as tf from '@tensorflow/tfjs';
import { Module, type Backbone, type Sequential } from '@bt-platform/sdk';
import { BatchNorm1d } from '@bt-platform/sdk/nn';

/**
 * Root of the pre-training model, laid out as the paper's BarlowTwins module: `backbone.…`,
 * `projector.…` and `bn.…` (the loss's BatchNorm1d without affine parameters, whose running
 * statistics standardise evaluation batches too small for batch statistics).
 */
export class BarlowTwinsModel extends Module {
  readonly backbone: Backbone;
  readonly projector: Sequential;
  readonly bn: BatchNorm1d;

  constructor(backbone: Backbone, projector: Sequential, embeddingDim: number, eps = 1e-5) {
    super();
    this.backbone = this.registerModule('backbone', backbone);
    this.projector = this.registerModule('projector', projector);
    this.bn = this.registerModule('bn', new BatchNorm1d(embeddingDim, eps, 0.1, false));
  }

  /** The projector's embedding of one view. */
  forward(images: tf.Tensor4D): tf.Tensor2D {
    const features = this.backbone.call(images);
    return this.projector.call(features.pooled) as tf.Tensor2D;
  }

  /**
   * Both views' embeddings. `joint`: the backbone sees the two views as one batch (for a backbone
   * that treats samples independently), the projector each view on its own, so that its
   * BatchNorm layers keep per-view statistics as in the paper.
   */
  embedPair(view1: tf.Tensor4D, view2: tf.Tensor4D, joint: boolean): [tf.Tensor2D, tf.Tensor2D] {
    const model: BarlowTwinsModel = this;
    if (!joint) return [model.call(view1), model.call(view2)];
    const pooled = this.backbone.call(tf.concat([view1, view2], 0)).pooled;
    const [features1, features2] = tf.split(pooled, [view1.shape[0], view2.shape[0]], 0);
    return [this.projector.call(features1) as tf.Tensor2D, this.projector.call(features2) as tf.Tensor2D];
  }
}
