import * as tf from '@tensorflow/tfjs';
import { Module, Rng, Sequential } from '@bt-platform/sdk';
import type { Backbone, BackboneFeatures } from '@bt-platform/sdk';
import { BatchNorm2d, Conv2d } from '@bt-platform/sdk/nn';

/**
 * torchvision's ResNet (v1.5: the stride sits on the 3×3 convolution) without its classifier,
 * with torchvision's parameter names, so torchvision and DeepLabV3 backbone weights load by name.
 * `dilate` is torchvision's replace_stride_with_dilation.
 */
export interface ResNetConfig {
  block: 'basic' | 'bottleneck';
  layers: [number, number, number, number];
  /** Channels after the stem (64 in torchvision); stages have 1, 2, 4, 8 times as many (× 4 for bottlenecks). */
  baseWidth: number;
  dilate: [boolean, boolean, boolean];
}

const relu = (x: tf.Tensor4D) => tf.relu(x) as tf.Tensor4D;

interface ResidualBlock extends Module {
  forward(x: tf.Tensor4D): tf.Tensor4D;
}

export class BasicBlock extends Module implements ResidualBlock {
  static readonly expansion = 1;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly downsample?: Sequential;

  constructor(inplanes: number, planes: number, stride: number, downsample: Sequential | undefined, dilation: number, rng: Rng) {
    super();
    this.conv1 = this.registerModule('conv1', new Conv2d(inplanes, planes, { kernel: 3, stride, padding: dilation, dilation, bias: false, kaiming: true, seed: rng.tfSeed() }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(planes));
    this.conv2 = this.registerModule('conv2', new Conv2d(planes, planes, { kernel: 3, padding: dilation, dilation, bias: false, kaiming: true, seed: rng.tfSeed() }));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(planes));
    if (downsample) this.downsample = this.registerModule('downsample', downsample);
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const identity = this.downsample ? (this.downsample.call(x) as tf.Tensor4D) : x;
      const out = relu(this.bn1.call(this.conv1.call(x)));
      return relu(tf.add(this.bn2.call(this.conv2.call(out)), identity) as tf.Tensor4D);
    });
  }
}

export class Bottleneck extends Module implements ResidualBlock {
  static readonly expansion = 4;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv3: Conv2d;
  readonly bn3: BatchNorm2d;
  readonly downsample?: Sequential;

  constructor(inplanes: number, planes: number, stride: number, downsample: Sequential | undefined, dilation: number, rng: Rng) {
    super();
    this.conv1 = this.registerModule('conv1', new Conv2d(inplanes, planes, { kernel: 1, bias: false, kaiming: true, seed: rng.tfSeed() }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(planes));
    this.conv2 = this.registerModule('conv2', new Conv2d(planes, planes, { kernel: 3, stride, padding: dilation, dilation, bias: false, kaiming: true, seed: rng.tfSeed() }));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(planes));
    this.conv3 = this.registerModule('conv3', new Conv2d(planes, planes * 4, { kernel: 1, bias: false, kaiming: true, seed: rng.tfSeed() }));
    this.bn3 = this.registerModule('bn3', new BatchNorm2d(planes * 4));
    if (downsample) this.downsample = this.registerModule('downsample', downsample);
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const identity = this.downsample ? (this.downsample.call(x) as tf.Tensor4D) : x;
      let out = relu(this.bn1.call(this.conv1.call(x)));
      out = relu(this.bn2.call(this.conv2.call(out)));
      return relu(tf.add(this.bn3.call(this.conv3.call(out)), identity) as tf.Tensor4D);
    });
  }
}

export class ResNet extends Module implements Backbone {
  readonly kind = 'cnn' as const;
  readonly featureDim: number;
  readonly stride: number;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly layer1: Sequential;
  readonly layer2: Sequential;
  readonly layer3: Sequential;
  readonly layer4: Sequential;

  constructor(
    readonly config: ResNetConfig,
    rng: Rng,
  ) {
    super();
    const Block = config.block === 'basic' ? BasicBlock : Bottleneck;
    const width = config.baseWidth;
    let inplanes = width;
    let dilation = 1;
    let stride = 4;
    const makeLayer = (name: string, planes: number, blocks: number, firstStride: number, dilate: boolean) => {
      const layerRng = rng.fork(name);
      const previousDilation = dilation;
      if (dilate) {
        dilation *= firstStride;
        firstStride = 1;
      }
      stride *= firstStride;
      const outplanes = planes * Block.expansion;
      const downsample =
        firstStride !== 1 || inplanes !== outplanes
          ? new Sequential([new Conv2d(inplanes, outplanes, { kernel: 1, stride: firstStride, bias: false, kaiming: true, seed: layerRng.tfSeed() }), new BatchNorm2d(outplanes)])
          : undefined;
      const items: Module[] = [new Block(inplanes, planes, firstStride, downsample, previousDilation, layerRng)];
      inplanes = outplanes;
      for (let i = 1; i < blocks; i++) items.push(new Block(inplanes, planes, 1, undefined, dilation, layerRng));
      return this.registerModule(name, new Sequential(items));
    };
    this.conv1 = this.registerModule('conv1', new Conv2d(3, width, { kernel: 7, stride: 2, padding: 3, bias: false, kaiming: true, seed: rng.tfSeed() }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(width));
    this.layer1 = makeLayer('layer1', width, config.layers[0], 1, false);
    this.layer2 = makeLayer('layer2', width * 2, config.layers[1], 2, config.dilate[0]);
    this.layer3 = makeLayer('layer3', width * 4, config.layers[2], 2, config.dilate[1]);
    this.layer4 = makeLayer('layer4', width * 8, config.layers[3], 2, config.dilate[2]);
    this.featureDim = inplanes;
    this.stride = stride;
  }

  forward(images: tf.Tensor4D): BackboneFeatures {
    return tf.tidy(() => {
      let x = relu(this.bn1.call(this.conv1.call(images)));
      x = tf.maxPool(x, 3, 2, 1);
      for (const layer of [this.layer1, this.layer2, this.layer3, this.layer4]) x = layer.call(x) as tf.Tensor4D;
      return { featureMap: x, pooled: tf.mean(x, [1, 2]) as tf.Tensor2D };
    });
  }
}
