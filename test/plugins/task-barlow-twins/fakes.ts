import * as tf from '@tensorflow/tfjs';
import { Module, type Backbone, type BackboneFeatures, type Head, type RunContext, type Slot } from '@bt-platform/sdk';
import { Rng } from '@bt-platform/sdk';

/** A 1×1 "convolution" as a matmul over the channel axis, saved in nn.Linear layout. */
class PixelLinear extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;

  constructor(inC: number, outC: number, seed: number) {
    super();
    this.weight = this.registerParameter('weight', tf.randomNormal([inC, outC], 0, 1 / Math.sqrt(inC), 'float32', seed), 'linear');
    this.bias = this.registerParameter('bias', tf.zeros([outC]));
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    const [b, h, w, c] = x.shape;
    const y = tf.add(tf.matMul(tf.reshape(x, [-1, c]), this.weight), this.bias);
    return tf.reshape(y, [b, h, w, this.weight.shape[1]!]) as tf.Tensor4D;
  }
}

/** A tiny patch-embedding backbone: average-pool `stride`×`stride` patches, two pixel-wise layers. */
export class FakeBackbone extends Module implements Backbone {
  readonly kind = 'vit' as const;
  readonly embed: PixelLinear;
  readonly mix: PixelLinear;

  constructor(
    readonly featureDim: number,
    readonly stride: number,
    seed = 1,
  ) {
    super();
    this.embed = this.registerModule('embed', new PixelLinear(3 * stride * stride, featureDim, seed));
    this.mix = this.registerModule('mix', new PixelLinear(featureDim, featureDim, seed + 1));
  }

  forward(images: tf.Tensor4D): BackboneFeatures {
    const [b, h, w] = images.shape;
    const s = this.stride;
    // Space-to-depth keeps every pixel of a patch, so the features can tell colours and textures apart.
    const p = tf.reshape(tf.transpose(tf.reshape(images, [b, h / s, s, w / s, s, 3]), [0, 1, 3, 2, 4, 5]), [b, h / s, w / s, s * s * 3]) as tf.Tensor4D;
    const featureMap = tf.relu(this.mix.call(tf.relu(this.embed.call(p)))) as tf.Tensor4D;
    return { pooled: tf.mean(featureMap, [1, 2]) as tf.Tensor2D, featureMap };
  }
}

/** A linear per-pixel classifier on the feature map, bilinearly upsampled to the image size. */
export class FakeHead extends Module implements Head {
  readonly classifier: PixelLinear;

  constructor(featureDim: number, classes: number, seed = 7) {
    super();
    this.classifier = this.registerModule('classifier', new PixelLinear(featureDim, classes, seed));
  }

  forward(features: BackboneFeatures, imageSize: [number, number]): tf.Tensor4D {
    return tf.image.resizeBilinear(this.classifier.call(features.featureMap), imageSize) as tf.Tensor4D;
  }
}

/** Just enough of a RunContext for a component factory. */
export function fakeContext(components: Array<[Slot<unknown>, unknown]>, extra: Partial<RunContext> = {}): RunContext & { messages: string[] } {
  const messages: string[] = [];
  const log = {
    debug: (m: string) => messages.push(`debug: ${m}`),
    info: (m: string) => messages.push(`info: ${m}`),
    warn: (m: string) => messages.push(`warn: ${m}`),
    error: (m: string) => messages.push(`error: ${m}`),
  };
  const byId = new Map(components.map(([slot, c]) => [slot.id, c]));
  return {
    config: {},
    runDir: '/tmp',
    configDir: process.cwd(),
    rng: new Rng(5),
    log,
    messages,
    get: async <T>(slot: Slot<T>) => {
      if (!byId.has(slot.id)) throw new Error(`no ${slot.key} in the fake context`);
      return byId.get(slot.id) as T;
    },
    resolvePath: (p: string) => p,
    ...extra,
  } as unknown as RunContext & { messages: string[] };
}
