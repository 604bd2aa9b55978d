import * as tf from '@tensorflow/tfjs';
import { Module, ModuleList, type Task } from '@bt-platform/sdk';

class Identity extends Module {
  forward(x: tf.Tensor): tf.Tensor {
    return x;
  }
}

class FakeAttention extends Module {
  readonly probs = this.registerModule('probs', new Identity());
  forward(): never {
    throw new Error('driven by FakeVit');
  }
}

class FakeBlock extends Module {
  readonly attn = this.registerModule('attn', new FakeAttention());
  forward(): never {
    throw new Error('driven by FakeVit');
  }
}

/**
 * A ViT stand-in whose attention is constructed: for image b of a batch, head h's CLS row puts
 * `cls(b, h)` on the patches. Like the real ViT it builds the probabilities only when tapped.
 */
export class FakeVit extends Module {
  readonly kind = 'vit' as const;
  readonly blocks: ModuleList<FakeBlock>;
  /** How many times attention probabilities were built. */
  built = 0;

  constructor(
    readonly depth: number,
    readonly heads: number,
    readonly patch: number,
    readonly cls: (image: number, head: number, patches: number) => number[],
  ) {
    super();
    this.blocks = this.registerModule('blocks', new ModuleList(Array.from({ length: depth }, () => new FakeBlock())));
  }

  forward(images: tf.Tensor4D): tf.Tensor {
    const [b, h, w] = images.shape;
    const patches = (h / this.patch) * (w / this.patch);
    const n = patches + 1;
    return tf.tidy(() => {
      for (const block of this.blocks.items) {
        if (!block.attn.probs.forwardHook.isUsed()) continue;
        this.built++;
        const data = new Float32Array(b * this.heads * n * n);
        for (let i = 0; i < b; i++)
          for (let head = 0; head < this.heads; head++) {
            const row = this.cls(i, head, patches);
            const base = (i * this.heads + head) * n * n;
            data[base] = 1 - row.reduce((s, v) => s + v, 0);
            row.forEach((v, p) => (data[base + 1 + p] = v));
            for (let r = 1; r < n; r++) data[base + r * n + r] = 1;
          }
        block.attn.probs.call(tf.tensor4d(data, [b, this.heads, n, n]));
      }
      return tf.mean(images, [1, 2]);
    });
  }
}

export class FakeVitModel extends Module {
  readonly backbone: FakeVit;
  constructor(vit: FakeVit) {
    super();
    this.backbone = this.registerModule('backbone', vit);
  }
  forward(images: tf.Tensor4D): tf.Tensor {
    return this.backbone.call(images);
  }
}

export function fakeTask(model: Module): Task {
  return {
    model,
    trainingStep: () => {
      throw new Error('unused');
    },
    validationStep: () => {
      throw new Error('unused');
    },
  };
}
