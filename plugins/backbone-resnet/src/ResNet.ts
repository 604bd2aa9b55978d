import * as tf from '@tensorflow/tfjs';
import { Module, Rng, Sequential } from '@bt-platform/sdk';
import type { Backbone, BackboneFeatures } from '@bt-platform/sdk';
import { ActivationCheckpointing, BatchNorm2d, checkpointSequence, Conv2d, recompute, type CheckpointMode } from '@bt-platform/sdk/nn';

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
  /** Recompute the stem's and each residual block's activations in the backward pass (`auto`: when a step would not fit). */
  checkpointActivations: CheckpointMode;
}

const relu = (x: tf.Tensor4D) => tf.relu(x) as tf.Tensor4D;

/** Maps of the middle width a block keeps for the backward pass (a bottleneck's 4×-wide ones count 4). */
const BOTTLENECK_ACTIVATIONS = 25;
const BASIC_ACTIVATIONS = 7;
/** Peak bytes of a training step per byte of the activations its forward keeps. */
const STEP_BYTES_PER_ACTIVATION_BYTE = 2;

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
  readonly checkpointing: ActivationCheckpointing;
  /** Per stage: channels of its blocks' middle convolutions, blocks, and input pixels per output cell; for the memory estimate. */
  private readonly stages: Array<{ planes: number; blocks: number; stride: number }> = [];

  constructor(
    readonly config: ResNetConfig,
    rng: Rng,
    log?: (message: string) => void,
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
      this.stages.push({ planes, blocks, stride });
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
    this.checkpointing = new ActivationCheckpointing(config.checkpointActivations, (input) => this.estimateStepBytes(input), log);
  }

  /**
   * With recomputation the stem and every residual block keep only their inputs for the backward
   * pass. Blocks, not stages, are the unit: a stage recomputed at once would hold all its blocks'
   * activations and their gradients together.
   */
  forward(images: tf.Tensor4D): BackboneFeatures {
    return tf.tidy(() => {
      const recomputed = this.checkpointing.enabled(this, images);
      const stem = (t: tf.Tensor4D) => tf.maxPool(relu(this.bn1.call(this.conv1.call(t))), 3, 2, 1);
      let x = recomputed ? recompute(stem, images, [...Object.values(this.conv1.trainableVariables()), ...Object.values(this.bn1.trainableVariables())]) : stem(images);
      for (const layer of [this.layer1, this.layer2, this.layer3, this.layer4]) x = recomputed ? checkpointSequence(layer, x) : (layer.call(x) as tf.Tensor4D);
      return { featureMap: x, pooled: tf.mean(x, [1, 2]) as tf.Tensor2D };
    });
  }

  /**
   * What a training step of this ResNet holds at its peak without recomputation, for `auto`: per
   * image, the stem's three maps at half resolution and, per block, about BOTTLENECK_ACTIVATIONS
   * (BASIC_ACTIVATIONS) maps of its middle width at its resolution, kept for the backward pass,
   * and as many gradients again. Measured with ResNet-50 at 224 px: 283 MB per image at the peak
   * (this estimate: 280 MB), 678 MB dilated to output stride 8 (this estimate: 670 MB).
   */
  estimateStepBytes(images: tf.Tensor): number {
    const [b, h, w] = images.shape;
    const cells = (stride: number) => Math.ceil(h / stride) * Math.ceil(w / stride);
    let elements = 3 * this.config.baseWidth * cells(2);
    const perBlock = this.config.block === 'basic' ? BASIC_ACTIVATIONS : BOTTLENECK_ACTIVATIONS;
    for (const stage of this.stages) elements += stage.blocks * perBlock * stage.planes * cells(stage.stride);
    return STEP_BYTES_PER_ACTIVATION_BYTE * 4 * b * elements;
  }
}
