import * as tf from '@tensorflow/tfjs';
import { Module } from '../module.js';
import { truncatedNormal, uniform } from './initializers.js';

export interface Conv2dOptions {
  kernel: number;
  stride?: number;
  padding?: number;
  dilation?: number;
  bias?: boolean;
  /** torchvision's ResNet init (Kaiming normal, fan-out) instead of nn.Conv2d's default uniform. */
  kaiming?: boolean;
  seed: number;
}

/**
 * nn.Conv2d on NHWC tensors with PyTorch's symmetric padding; saved as [out, in, kh, kw].
 * tfjs has no gradient for dilated convolutions, so a dilated one runs as space-to-batch, a plain
 * convolution and batch-to-space (as TensorFlow's atrous_conv2d), all differentiable; when the
 * dilation reaches past the whole input only the centre tap can touch data, so that tap alone runs.
 */
export class Conv2d extends Module {
  readonly weight: tf.Variable;
  readonly bias?: tf.Variable;
  readonly kernel: number;
  readonly stride: number;
  readonly padding: number;
  readonly dilation: number;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    options: Conv2dOptions,
  ) {
    super();
    this.kernel = options.kernel;
    this.stride = options.stride ?? 1;
    this.padding = options.padding ?? 0;
    this.dilation = options.dilation ?? 1;
    if (this.dilation > 1 && this.stride > 1) throw new Error('Conv2d: a dilated convolution must have stride 1.');
    const k = this.kernel;
    const shape = [k, k, inChannels, outChannels];
    const fanIn = inChannels * k * k;
    const init = options.kaiming ? truncatedNormal(shape, Math.sqrt(2 / (outChannels * k * k)), options.seed, 4) : uniform(shape, 1 / Math.sqrt(fanIn), options.seed);
    this.weight = this.registerParameter('weight', init, 'conv2d');
    if (options.bias ?? true) this.bias = this.registerParameter('bias', uniform([outChannels], 1 / Math.sqrt(fanIn), options.seed + 1));
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const y = this.dilation === 1 ? this.plain(x) : this.dilated(x);
      return (this.bias ? tf.add(y, this.bias) : y) as tf.Tensor4D;
    });
  }

  private plain(x: tf.Tensor4D): tf.Tensor4D {
    const p = this.padding;
    const pad = p === 0 ? 'valid' : ([[0, 0], [p, p], [p, p], [0, 0]] as tf.backend_util.ExplicitPadding);
    return tf.conv2d(x, this.weight as tf.Tensor4D, this.stride, pad);
  }

  private dilated(x: tf.Tensor4D): tf.Tensor4D {
    const [, h, w] = x.shape;
    const { kernel: k, dilation: d, padding: p } = this;
    const centred = 2 * p === d * (k - 1);
    if (centred && k % 2 === 1 && d >= h && d >= w) {
      const c = (k - 1) / 2;
      return tf.conv2d(x, tf.slice(this.weight, [c, c, 0, 0], [1, 1, this.inChannels, this.outChannels]) as tf.Tensor4D, 1, 'valid');
    }
    const extraH = (d - ((h + 2 * p) % d)) % d;
    const extraW = (d - ((w + 2 * p) % d)) % d;
    const blocks = tf.spaceToBatchND(x, [d, d], [
      [p, p + extraH],
      [p, p + extraW],
    ]);
    const y = tf.conv2d(blocks as tf.Tensor4D, this.weight as tf.Tensor4D, 1, 'valid');
    return tf.batchToSpaceND(y, [d, d], [
      [0, extraH],
      [0, extraW],
    ]) as tf.Tensor4D;
  }
}
