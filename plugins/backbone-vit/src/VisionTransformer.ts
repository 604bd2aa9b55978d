import * as tf from '@tensorflow/tfjs';
import { BtError, Module, ModuleList, Rng } from '@bt-platform/sdk';
import type { Backbone, BackboneFeatures } from '@bt-platform/sdk';
import { bicubicMatrix } from './bicubicMatrix.js';
import { ActivationCheckpointing, attention, recompute, Identity, truncatedNormal, uniform, LayerNorm, Linear, gelu, softmax, type CheckpointMode } from '@bt-platform/sdk/nn';

/**
 * A timm-style Vision Transformer: patch embedding, CLS token, learned position embedding
 * (resampled bicubically when the input grid differs from the pretraining grid), pre-norm blocks,
 * final norm. Parameter names are timm's, so timm, DINO and deit checkpoints load by name.
 */
export interface VitConfig {
  imageSize: number;
  patchSize: number;
  embedDim: number;
  depth: number;
  heads: number;
  /** Hidden units of each MLP. */
  mlpDim: number;
  qkvBias: boolean;
  layerNormEps: number;
  /** Dropout after the attention projection and the MLP layers. */
  dropout: number;
  /** Dropout after adding the position embedding. */
  posDropout: number;
  attnDropout: number;
  /** Stochastic depth rate of the last block (linearly increasing from 0, as timm). */
  dropPath: number;
  /** Blocks whose outputs are returned as `intermediates` (0-based). */
  outIndices: number[];
  /** How the position embedding is resampled for another input size. */
  posEmbedInterpolation: 'bicubic-antialias' | 'bicubic';
  /** Recompute each block's activations in the backward pass instead of keeping them (`auto`: when a step would not fit). */
  checkpointActivations: CheckpointMode;
  /** What `pooled` is: the CLS token (`token`) or the mean of the patch tokens (`avg`), both after the final norm. */
  globalPool: 'token' | 'avg';
}

/** Peak bytes of a training step per byte of the activations its forward keeps (the gradients of the backward pass double them). */
const STEP_BYTES_PER_ACTIVATION_BYTE = 2;

function trainable(...modules: Module[]): tf.Variable[] {
  return modules.flatMap((m) => Object.values(m.trainableVariables()));
}

function dropout(x: tf.Tensor, rate: number, training: boolean, rng: Rng): tf.Tensor {
  return training && rate > 0 ? tf.dropout(x, rate, undefined, rng.tfSeed()) : x;
}

/** The patch projection: timm's stride-p convolution, computed as a matmul on flattened patches. */
class PatchProjection extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;

  constructor(
    readonly patchSize: number,
    readonly embedDim: number,
    seed: number,
  ) {
    super();
    const fanIn = 3 * patchSize * patchSize;
    const bound = 1 / Math.sqrt(fanIn);
    // Stored as an HWIO conv kernel so it saves as patch_embed.proj.weight [D, 3, p, p].
    this.weight = this.registerParameter('weight', uniform([patchSize, patchSize, 3, embedDim], bound, seed), 'conv2d');
    this.bias = this.registerParameter('bias', uniform([embedDim], bound, seed + 1));
  }

  /** [B, H, W, 3] → [B, gh·gw, D]. The reshape/transpose form trains on backends without conv filter gradients. */
  forward(images: tf.Tensor4D): tf.Tensor3D {
    const [b, h, w, c] = images.shape;
    const p = this.patchSize;
    if (h % p !== 0 || w % p !== 0 || c !== 3)
      throw new BtError('RUNTIME', `ViT input of shape [${images.shape}] is not an RGB image whose sides are multiples of the patch size ${p}.`, {
        hint: `Resize or crop images to multiples of ${p} pixels (NHWC, 3 channels).`,
      });
    const gh = h / p;
    const gw = w / p;
    return tf.tidy(() => {
      const patches = tf.reshape(tf.transpose(tf.reshape(images, [b, gh, p, gw, p, 3]), [0, 1, 3, 2, 4, 5]), [b * gh * gw, p * p * 3]);
      const y = tf.add(tf.matMul(patches, tf.reshape(this.weight, [p * p * 3, this.embedDim])), this.bias);
      return tf.reshape(y, [b, gh * gw, this.embedDim]) as tf.Tensor3D;
    });
  }
}

export class PatchEmbed extends Module {
  readonly proj: PatchProjection;

  constructor(patchSize: number, embedDim: number, seed: number) {
    super();
    this.proj = this.registerModule('proj', new PatchProjection(patchSize, embedDim, seed));
  }

  forward(images: tf.Tensor4D): tf.Tensor3D {
    return this.proj.call(images);
  }
}

export class Attention extends Module {
  readonly qkv: Linear;
  readonly proj: Linear;
  /** Identity child whose forward hook sees the attention probabilities [B, heads, N, N] (after softmax, before dropout). */
  readonly probs: Identity;
  private readonly scale: number;

  constructor(
    readonly dim: number,
    readonly heads: number,
    qkvBias: boolean,
    private readonly attnDropout: number,
    private readonly projDropout: number,
    private readonly rng: Rng,
  ) {
    super();
    if (dim % heads !== 0) throw new BtError('RUNTIME', `ViT embedding dimension ${dim} is not divisible by ${heads} heads.`);
    this.scale = (dim / heads) ** -0.5;
    this.qkv = this.registerModule('qkv', new Linear(dim, 3 * dim, rng.tfSeed(), qkvBias));
    this.probs = this.registerModule('probs', new Identity());
    this.proj = this.registerModule('proj', new Linear(dim, dim, rng.tfSeed()));
  }

  forward(x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      const qkv = this.qkv.call(x) as tf.Tensor3D;
      // The fused op never materialises the probabilities that observers and attention dropout need.
      const materialise = this.probs.forwardHook.isUsed() || (this.training && this.attnDropout > 0);
      const merged = materialise ? this.attendMaterialised(qkv) : attention(qkv, this.heads, this.scale);
      return dropout(this.proj.call(merged), this.projDropout, this.training, this.rng) as tf.Tensor3D;
    });
  }

  private attendMaterialised(qkvPacked: tf.Tensor3D): tf.Tensor3D {
    const [b, n, d3] = qkvPacked.shape;
    const d = d3 / 3;
    const h = this.heads;
    const hd = d / h;
    const qkv = tf.transpose(tf.reshape(qkvPacked, [b, n, 3, h, hd]), [2, 0, 3, 1, 4]);
    const [q, k, v] = tf.unstack(qkv).map((t) => tf.reshape(t, [b * h, n, hd]));
    const attn = softmax(tf.matMul(tf.mul(q, this.scale), k, false, true));
    if (this.probs.forwardHook.isUsed()) this.probs.call(tf.reshape(attn, [b, h, n, n]));
    const mixed = tf.matMul(dropout(attn, this.attnDropout, this.training, this.rng), v);
    return tf.reshape(tf.transpose(tf.reshape(mixed, [b, h, n, hd]), [0, 2, 1, 3]), [b, n, d]);
  }
}

export class Mlp extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;

  constructor(
    dim: number,
    hidden: number,
    private readonly drop: number,
    private readonly rng: Rng,
  ) {
    super();
    this.fc1 = this.registerModule('fc1', new Linear(dim, hidden, rng.tfSeed()));
    this.fc2 = this.registerModule('fc2', new Linear(hidden, dim, rng.tfSeed()));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const hidden = this.fc1.call(x);
      const act = gelu(hidden);
      const out = this.fc2.call(dropout(act, this.drop, this.training, this.rng));
      return dropout(out, this.drop, this.training, this.rng);
    });
  }
}

export class Block extends Module {
  readonly norm1: LayerNorm;
  readonly attn: Attention;
  readonly norm2: LayerNorm;
  readonly mlp: Mlp;

  constructor(
    config: VitConfig,
    private readonly dropPath: number,
    /** The block's dropout and stochastic-depth draws; rewound when its forward is recomputed. */
    readonly rng: Rng,
  ) {
    super();
    const d = config.embedDim;
    this.norm1 = this.registerModule('norm1', new LayerNorm(d, config.layerNormEps));
    this.attn = this.registerModule('attn', new Attention(d, config.heads, config.qkvBias, config.attnDropout, config.dropout, rng));
    this.norm2 = this.registerModule('norm2', new LayerNorm(d, config.layerNormEps));
    this.mlp = this.registerModule('mlp', new Mlp(d, config.mlpDim, config.dropout, rng));
  }

  /**
   * With `recomputeActivations`, each residual branch keeps only its input for the backward pass
   * and runs again there; a whole block recomputed at once would hold the attention's and the
   * MLP's activations, and their gradients, at the same time.
   */
  forward(x: tf.Tensor3D, recomputeActivations = false): tf.Tensor3D {
    const attention = (t: tf.Tensor3D) => tf.add(t, this.stochasticDepth(this.attn.call(this.norm1.call(t) as tf.Tensor3D))) as tf.Tensor3D;
    const mlp = (t: tf.Tensor3D) => tf.add(t, this.stochasticDepth(this.mlp.call(this.norm2.call(t)))) as tf.Tensor3D;
    return tf.tidy(() => {
      if (!recomputeActivations) return mlp(attention(x));
      const options = { rngs: [this.rng] };
      const y = recompute(attention, x, trainable(this.norm1, this.attn), options);
      return recompute(mlp, y, trainable(this.norm2, this.mlp), options);
    });
  }

  /** Drops the whole residual branch per sample while training (timm's DropPath). */
  private stochasticDepth(branch: tf.Tensor): tf.Tensor {
    if (!this.training || this.dropPath === 0) return branch;
    const keep = 1 - this.dropPath;
    const mask = tf.floor(tf.add(tf.randomUniform([branch.shape[0], 1, 1], 0, 1, 'float32', this.rng.tfSeed()), keep));
    return tf.mul(branch, tf.div(mask, keep));
  }
}

export class VisionTransformer extends Module implements Backbone {
  readonly kind = 'vit' as const;
  readonly featureDim: number;
  readonly stride: number;
  readonly cls_token: tf.Variable;
  readonly pos_embed: tf.Variable;
  readonly patch_embed: PatchEmbed;
  readonly blocks: ModuleList<Block>;
  readonly norm: LayerNorm;
  /** Resampling matrices by output grid side (plain arrays: no tensors outlive a forward). */
  private readonly resampleCache = new Map<number, Float32Array>();
  readonly checkpointing: ActivationCheckpointing;

  constructor(
    readonly config: VitConfig,
    private readonly rng: Rng,
    log?: (message: string) => void,
  ) {
    super();
    const { imageSize, patchSize, embedDim, depth } = config;
    if (imageSize % patchSize !== 0)
      throw new BtError('RUNTIME', `ViT imageSize ${imageSize} is not a multiple of patchSize ${patchSize}.`, { hint: 'Choose an imageSize divisible by the patch size.' });
    for (const i of config.outIndices)
      if (!Number.isInteger(i) || i < 0 || i >= depth)
        throw new BtError('RUNTIME', `ViT outIndices entry ${i} is not a block index in [0, ${depth - 1}].`, { hint: `Give block indices below depth ${depth}.` });
    this.featureDim = embedDim;
    this.stride = patchSize;
    const grid = imageSize / patchSize;
    this.cls_token = this.registerParameter('cls_token', truncatedNormal([1, 1, embedDim], 1e-6, rng.tfSeed()));
    this.pos_embed = this.registerParameter('pos_embed', truncatedNormal([1, 1 + grid * grid, embedDim], 0.02, rng.tfSeed()));
    this.patch_embed = this.registerModule('patch_embed', new PatchEmbed(patchSize, embedDim, rng.tfSeed()));
    const blocks = Array.from({ length: depth }, (_, i) => new Block(config, depth > 1 ? (config.dropPath * i) / (depth - 1) : config.dropPath, rng.fork('block', i)));
    this.blocks = this.registerModule('blocks', new ModuleList(blocks));
    this.norm = this.registerModule('norm', new LayerNorm(embedDim, config.layerNormEps));
    this.checkpointing = new ActivationCheckpointing(config.checkpointActivations, (input) => this.estimateStepBytes(input), log);
  }

  /**
   * What a training step of this ViT holds at its peak without recomputation, for `auto`. Per image
   * and block the forward keeps, for the backward pass, about 22 embedding-wide and 3 MLP-wide
   * vectors per token (each linear layer's product and its biased sum, the attention's q, k, v in
   * two layouts, the norms' outputs) and the attention probabilities (heads × tokens²); the
   * backward pass then holds about as many gradients again. Measured with ViT-S/16 at 224 px:
   * 125 MB kept per image after the forward, 238 MB at the peak (this estimate: 225 MB).
   */
  estimateStepBytes(images: tf.Tensor): number {
    const [b, h, w] = images.shape;
    const { patchSize, embedDim, mlpDim, heads, depth } = this.config;
    const tokens = 1 + Math.floor(h / patchSize) * Math.floor(w / patchSize);
    const perBlock = tokens * (22 * embedDim + 3 * mlpDim + heads * tokens);
    return STEP_BYTES_PER_ACTIVATION_BYTE * 4 * b * depth * perBlock;
  }

  /** The pretraining grid side (pos_embed has 1 + grid² tokens). */
  get grid(): number {
    return Math.round(Math.sqrt(this.pos_embed.shape[1]! - 1));
  }

  forward(images: tf.Tensor4D): BackboneFeatures {
    const [b, h, w] = images.shape;
    const p = this.config.patchSize;
    const [gh, gw] = [h / p, w / p];
    const d = this.config.embedDim;
    const toGrid = (tokens: tf.Tensor) => tf.reshape(tf.slice(tokens, [0, 1, 0], [b, gh * gw, d]), [b, gh, gw, d]) as tf.Tensor4D;
    return tf.tidy(() => {
      const patches = this.patch_embed.call(images);
      const cls = tf.tile(this.cls_token, [b, 1, 1]);
      let x = tf.add(tf.concat([cls, patches], 1), this.posEmbedFor(gh, gw)) as tf.Tensor3D;
      x = dropout(x, this.config.posDropout, this.training, this.rng) as tf.Tensor3D;
      const intermediates: tf.Tensor4D[] = [];
      const recomputed = this.checkpointing.enabled(this, images);
      this.blocks.items.forEach((block, i) => {
        x = block.call(x, recomputed);
        for (const index of this.config.outIndices) if (index === i) intermediates.push(toGrid(x));
      });
      const tokens = this.norm.call(x) as tf.Tensor3D;
      const featureMap = toGrid(tokens);
      const pooled =
        this.config.globalPool === 'avg'
          ? (tf.mean(featureMap, [1, 2]) as tf.Tensor2D)
          : (tf.reshape(tf.slice(tokens, [0, 0, 0], [b, 1, d]), [b, d]) as tf.Tensor2D);
      return { pooled, tokens, featureMap, intermediates };
    });
  }

  /** pos_embed for a gh×gw grid: the CLS entry unchanged, the grid resampled like timm's resample_abs_pos_embed. */
  posEmbedFor(gh: number, gw: number): tf.Tensor {
    const g = this.grid;
    if (gh === g && gw === g) return this.pos_embed;
    return tf.tidy(() => {
      const d = this.config.embedDim;
      const [ah, aw] = this.resampleMatrices(gh, gw);
      const cls = tf.slice(this.pos_embed, [0, 0, 0], [1, 1, d]);
      const grid = tf.reshape(tf.slice(this.pos_embed, [0, 1, 0], [1, g * g, d]), [g, g * d]);
      const rows = tf.transpose(tf.reshape(tf.matMul(ah, grid), [gh, g, d]), [1, 0, 2]);
      const both = tf.reshape(tf.matMul(aw, tf.reshape(rows, [g, gh * d])), [gw, gh, d]);
      return tf.concat([cls, tf.reshape(tf.transpose(both, [1, 0, 2]), [1, gh * gw, d])], 1);
    });
  }

  private resampleMatrices(gh: number, gw: number): [tf.Tensor2D, tf.Tensor2D] {
    const g = this.grid;
    const matrix = (size: number) => {
      let m = this.resampleCache.get(size);
      if (!m) {
        m = bicubicMatrix(g, size, this.config.posEmbedInterpolation === 'bicubic-antialias');
        this.resampleCache.set(size, m);
      }
      return tf.tensor2d(m, [size, g]);
    };
    return [matrix(gh), matrix(gw)];
  }
}
