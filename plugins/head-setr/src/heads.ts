import * as tf from '@tensorflow/tfjs';
import { BtError, Module, Rng, Sequential } from '@bt-platform/sdk';
import type { BackboneFeatures, Head } from '@bt-platform/sdk';
import { BatchNorm2d, Conv2d, Linear, upsampleBilinear } from '@bt-platform/sdk/nn';
import { NamedSequential } from './NamedSequential.js';
import { Upsample } from './Upsample.js';

/**
 * Segmentation heads for ViT features, after the SETR paper and the reference's modules (same
 * structure and parameter names). Each maps BackboneFeatures to logits [B, H, W, classes].
 */
export interface HeadConfig {
  /** Channels of the backbone's feature map. */
  dim: number;
  /** Input pixels per feature-map cell (the patch size). */
  stride: number;
  numClasses: number;
}

const conv1x1 = (cin: number, cout: number, rng: Rng) => new Conv2d(cin, cout, { kernel: 1, seed: rng.tfSeed() });
const conv3x3 = (cin: number, cout: number, rng: Rng) => new Conv2d(cin, cout, { kernel: 3, padding: 1, seed: rng.tfSeed() });

/** Per-patch linear to p·p·classes values, rearranged 'b (h w) (p1 p2 c) -> b (h p1) (w p2) c'. */
export class LinearHead extends Module implements Head {
  readonly proj: Linear;

  constructor(
    readonly config: HeadConfig,
    rng: Rng,
  ) {
    super();
    this.proj = this.registerModule('proj', new Linear(config.dim, config.stride * config.stride * config.numClasses, rng.tfSeed()));
  }

  forward(features: BackboneFeatures, imageSize: [number, number]): tf.Tensor4D {
    const [b, h, w] = features.featureMap.shape;
    const { stride: p, numClasses: c } = this.config;
    return tf.tidy(() => {
      const y = tf.reshape(this.proj.call(features.featureMap), [b, h, w, p, p, c]);
      const image = tf.reshape(tf.transpose(y, [0, 1, 3, 2, 4, 5]), [b, h * p, w * p, c]) as tf.Tensor4D;
      return upsampleBilinear(image, imageSize);
    });
  }
}

/** SETR-Naive: 1×1 conv, BN, ReLU, 1×1 conv to the classes, bilinear upsampling to the image. */
export class SetrNaiveHead extends Module implements Head {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;

  constructor(
    readonly config: HeadConfig,
    rng: Rng,
  ) {
    super();
    this.conv1 = this.registerModule('conv1', conv1x1(config.dim, config.dim, rng));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(config.dim));
    this.conv2 = this.registerModule('conv2', conv1x1(config.dim, config.numClasses, rng));
  }

  forward(features: BackboneFeatures, imageSize: [number, number]): tf.Tensor4D {
    return tf.tidy(() => {
      const x = tf.relu(this.bn1.call(this.conv1.call(features.featureMap))) as tf.Tensor4D;
      return upsampleBilinear(this.conv2.call(x), imageSize);
    });
  }
}

/**
 * SETR-PUP: 1×1 convolutions (dim → dim/4 → … → classes) alternating with 2× bilinear upsampling,
 * log2(patch) upsamplings in all; smaller patches skip the second stage's convolution and
 * upsampling, as the reference's patch-8 variant does (so `decode_net` indices match it).
 */
export class SetrPupHead extends Module implements Head {
  readonly decode_net: Sequential;

  constructor(
    readonly config: HeadConfig,
    rng: Rng,
  ) {
    super();
    const stages = Math.log2(config.stride);
    if (!Number.isInteger(stages) || stages < 1 || stages > 4) throw new BtError('RUNTIME', `SETR-PUP needs a patch size of 2, 4, 8 or 16, got ${config.stride}.`);
    const mid = Math.floor(config.dim / 4);
    const ins = [config.dim, mid, mid, mid, mid];
    const outs = [mid, mid, mid, mid, config.numClasses];
    const modules: Module[] = [];
    for (let i = 0; i < 5; i++) {
      if (i >= 1 && i <= 4 - stages) continue;
      modules.push(conv1x1(ins[i], outs[i], rng));
      if (i !== 4) modules.push(new Upsample(2));
    }
    this.decode_net = this.registerModule('decode_net', new Sequential(modules));
  }

  forward(features: BackboneFeatures, imageSize: [number, number]): tf.Tensor4D {
    return tf.tidy(() => upsampleBilinear(this.decode_net.call(features.featureMap) as tf.Tensor4D, imageSize));
  }
}

/**
 * SETR-MLA: four intermediate blocks, deepest first, each projected to dim/2 and added top-down,
 * refined by 3×3 convolutions to dim/4, upsampled 4×, concatenated, classified by a 1×1
 * convolution and upsampled to the image (4× more for patch 16, as SETR).
 */
export class SetrMlaHead extends Module implements Head {
  private readonly nets: Array<{ input: NamedSequential; intmd?: NamedSequential; output: NamedSequential }> = [];
  readonly output_net: NamedSequential;

  constructor(
    readonly config: HeadConfig,
    rng: Rng,
  ) {
    super();
    const d = config.dim;
    const half = Math.floor(d / 2);
    for (let k = 1; k <= 4; k++) {
      const input = this.registerModule(`net${k}_in`, new NamedSequential([['layer_1', conv1x1(d, half, rng)]]));
      // The deepest level is not summed with anything, so it has no refinement convolution.
      const intmd = k > 1 ? this.registerModule(`net${k}_intmd`, new NamedSequential([['layer_intmd', conv3x3(half, half, rng)]])) : undefined;
      const output = this.registerModule(
        `net${k}_out`,
        new NamedSequential([
          ['layer_2', conv3x3(half, half, rng)],
          ['layer_3', conv3x3(half, Math.floor(d / 4), rng)],
          ['upsample', new Upsample(4)],
        ]),
      );
      this.nets.push({ input, intmd, output });
    }
    this.output_net = this.registerModule('output_net', new NamedSequential([['conv_1', conv1x1(4 * Math.floor(d / 4), config.numClasses, rng)]]));
  }

  forward(features: BackboneFeatures, imageSize: [number, number]): tf.Tensor4D {
    const levels = features.intermediates;
    if (!levels || levels.length !== 4)
      throw new BtError('RUNTIME', `SETR-MLA needs exactly 4 intermediate feature maps from the backbone, got ${levels?.length ?? 0}.`, {
        hint: 'Give the ViT backbone `outIndices` with four block indices.',
      });
    return tf.tidy(() => {
      const outs: tf.Tensor4D[] = [];
      let carry: tf.Tensor4D | undefined;
      [...levels].reverse().forEach((level, k) => {
        const net = this.nets[k];
        const projected = net.input.call(level);
        carry = carry ? (tf.add(projected, carry) as tf.Tensor4D) : projected;
        outs.push(net.output.call(net.intmd ? net.intmd.call(carry) : carry));
      });
      return upsampleBilinear(this.output_net.call(tf.concat(outs, 3) as tf.Tensor4D), imageSize);
    });
  }
}
