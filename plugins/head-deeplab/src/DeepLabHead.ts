import * as tf from '@tensorflow/tfjs';
import { Module, ModuleList, Rng, Sequential } from '@bt-platform/sdk';
import type { BackboneFeatures, Head } from '@bt-platform/sdk';
import { BatchNorm2d, Conv2d, isRecordingGradients, memoryCeiling, recompute, upsampleBilinear, type CheckpointMode } from '@bt-platform/sdk/nn';
import { AtrousConv2d } from './AtrousConv2d.js';
import { Dropout, GlobalAvgPool, ReLU } from './layers.js';

/**
 * torchvision's DeepLabV3 head (DeepLabHead: ASPP, 3×3 conv, BN, ReLU, 1×1 classifier) with its
 * parameter names, so `classifier.*` of a torchvision deeplabv3 checkpoint loads with the prefix
 * stripped; logits are upsampled bilinearly to the image as DeepLabV3.forward does.
 */
export interface DeepLabConfig {
  inChannels: number;
  numClasses: number;
  atrousRates: number[];
  /** ASPP and decoder channels (256 in torchvision). */
  channels: number;
  dropout: number;
  /** Recompute the head's activations in the backward pass (`auto`: on backends with a memory ceiling). */
  checkpointActivations: CheckpointMode;
}

// nn.Conv2d default initialisation, as torchvision leaves the DeepLab head.
const convBnRelu = (conv: Conv2d, channels: number) => [conv, new BatchNorm2d(channels), new ReLU()];

/** Image pooling branch: global average, 1×1 conv, BN, ReLU, spread back over the input grid. */
class AsppPooling extends Sequential {
  override forward(x: tf.Tensor4D): tf.Tensor4D {
    const [b, h, w] = x.shape;
    return tf.tidy(() => {
      const pooled = super.forward(x) as tf.Tensor4D;
      // Bilinear resizing of a 1×1 map is a broadcast.
      return tf.broadcastTo(pooled, [b, h, w, pooled.shape[3]]) as tf.Tensor4D;
    });
  }
}

export class Aspp extends Module {
  readonly convs: ModuleList;
  readonly project: Sequential;

  constructor(inChannels: number, rates: number[], channels: number, dropout: number, rng: Rng) {
    super();
    const branches: Module[] = [new Sequential(convBnRelu(new Conv2d(inChannels, channels, { kernel: 1, bias: false, seed: rng.tfSeed() }), channels))];
    for (const rate of rates)
      branches.push(new Sequential(convBnRelu(new AtrousConv2d(inChannels, channels, { kernel: 3, padding: rate, dilation: rate, bias: false, seed: rng.tfSeed() }), channels)));
    branches.push(new AsppPooling([new GlobalAvgPool(), ...convBnRelu(new Conv2d(inChannels, channels, { kernel: 1, bias: false, seed: rng.tfSeed() }), channels)]));
    this.convs = this.registerModule('convs', new ModuleList(branches));
    const projectConv = new Conv2d(branches.length * channels, channels, { kernel: 1, bias: false, seed: rng.tfSeed() });
    this.project = this.registerModule('project', new Sequential([...convBnRelu(projectConv, channels), new Dropout(dropout, rng)]));
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => this.project.call(tf.concat(this.convs.items.map((branch) => branch.call(x) as tf.Tensor4D), 3)) as tf.Tensor4D);
  }
}

export class DeepLabHead extends Module implements Head {
  private readonly layers: Module[];

  constructor(
    readonly config: DeepLabConfig,
    private readonly rng: Rng,
  ) {
    super();
    const { inChannels, numClasses, atrousRates, channels, dropout } = config;
    this.layers = [
      new Aspp(inChannels, atrousRates, channels, dropout, rng),
      new Conv2d(channels, channels, { kernel: 3, padding: 1, bias: false, seed: rng.tfSeed() }),
      new BatchNorm2d(channels),
      new ReLU(),
      new Conv2d(channels, numClasses, { kernel: 1, seed: rng.tfSeed() }),
    ];
    // Registered under '0'…'4' like torchvision's nn.Sequential DeepLabHead.
    this.layers.forEach((m, i) => this.registerModule(String(i), m));
  }

  forward(features: BackboneFeatures, imageSize: [number, number]): tf.Tensor4D {
    return tf.tidy(() => {
      const layers = (x: tf.Tensor4D) => this.layers.reduce((h, m) => m.call(h) as tf.Tensor4D, x);
      const logits = this.recomputes()
        ? recompute(layers, features.featureMap, Object.values(this.trainableVariables()), { rngs: [this.rng] })
        : layers(features.featureMap);
      return upsampleBilinear(logits, imageSize);
    });
  }

  /**
   * `auto` recomputes wherever memory has a ceiling: the head is a small part of a step's compute
   * (one more forward of it), while its activations at output stride 8 are about 40 MB per image,
   * which tfjs keeps, with their gradients, until the backbone's backward pass is done too.
   */
  private recomputes(): boolean {
    const mode = this.config.checkpointActivations;
    if (mode === false || !this.training || !isRecordingGradients()) return false;
    return mode === true || memoryCeiling() !== undefined;
  }
}
