import { tf, Module, ModuleList, type Backbone, type BackboneFeatures, type Rng } from '@bt-platform/sdk';
import { ConvBnRelu } from './ConvBnRelu.js';

export interface TinyCnnConfig {
  /** Channels of the last stage: `featureDim` of the backbone. */
  featureDim: number;
  /** Output stride, a power of two: one stride-2 stage per halving. */
  stride: number;
  /** Channels of the first stage; each next stage doubles them, up to `featureDim`. */
  width: number;
}

/**
 * A small CNN backbone: log2(stride) stages of 3×3 convolution (stride 2), batch norm and ReLU.
 * `featureMap` is the last stage's output, [B, ceil(H/stride), ceil(W/stride), featureDim];
 * `pooled` its global average; `intermediates` the earlier stages' outputs, shallowest first.
 */
export class TinyCnn extends Module implements Backbone {
  readonly kind = 'cnn' as const;
  readonly featureDim: number;
  readonly stride: number;
  readonly stages: ModuleList<ConvBnRelu>;

  constructor(config: TinyCnnConfig, rng: Rng) {
    super();
    const count = Math.log2(config.stride);
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`TinyCnn: stride must be a power of two ≥ 2, got ${config.stride}.`);
    const stages: ConvBnRelu[] = [];
    let channels = 3;
    for (let i = 0; i < count; i++) {
      const out = i === count - 1 ? config.featureDim : Math.min(config.width * 2 ** i, config.featureDim);
      stages.push(new ConvBnRelu(channels, out, 2, rng.fork('stage', i)));
      channels = out;
    }
    this.stages = this.registerModule('stages', new ModuleList(stages));
    this.featureDim = config.featureDim;
    this.stride = config.stride;
  }

  forward(images: tf.Tensor4D): BackboneFeatures {
    return tf.tidy(() => {
      const levels: tf.Tensor4D[] = [];
      let x = images;
      for (const stage of this.stages.items) {
        x = stage.call(x);
        levels.push(x);
      }
      const featureMap = levels.pop()!;
      return { featureMap, pooled: tf.mean(featureMap, [1, 2]) as tf.Tensor2D, intermediates: levels };
    });
  }
}
