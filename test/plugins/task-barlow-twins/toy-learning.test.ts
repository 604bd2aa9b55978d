import * as tf from '@tensorflow/tfjs';
import { AdamW, adamWOptions } from '@bt-platform/plugin-optim';
import { BarlowTwinsTask, barlowTwinsOptions } from '@bt-platform/plugin-task-barlow-twins';
import { Module, Rng, type Backbone, type BackboneFeatures, type Task } from '@bt-platform/sdk';

/** Flattens a tiny image and maps it linearly: the embedding can be decorrelated exactly. */
class FlatBackbone extends Module implements Backbone {
  readonly kind = 'cnn' as const;
  readonly stride = 2;
  readonly weight: tf.Variable;

  constructor(
    inputs: number,
    readonly featureDim: number,
  ) {
    super();
    this.weight = this.registerParameter('weight', tf.randomNormal([inputs, featureDim], 0, 1 / Math.sqrt(inputs), 'float32', 5), 'linear');
  }

  forward(images: tf.Tensor4D): BackboneFeatures {
    const pooled = tf.matMul(tf.reshape(images, [images.shape[0], -1]), this.weight) as tf.Tensor2D;
    return { pooled, featureMap: tf.reshape(pooled, [images.shape[0], 1, 1, this.featureDim]) as tf.Tensor4D };
  }
}

/**
 * The loss, projector and optimizer together drive the cross-correlation towards the identity on a
 * problem where that is reachable: both views carry the same 8-dimensional signal mixed into
 * correlated inputs, each with its own noise; the model must keep the signal (diagonal) and
 * decorrelate the embedding (off-diagonal).
 */
describe('Barlow Twins on a toy problem', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('raises the diagonal towards 1 and shrinks the off-diagonal', () => {
    const task: Task & { model: BarlowTwinsTask['model'] } = new BarlowTwinsTask(new FlatBackbone(12, 16), barlowTwinsOptions.parse({ projectorDim: 8, lambda: 0.3 }), 4);
    const optimizer = new AdamW(adamWOptions.parse({ lr: 1e-2, weightDecay: 0 }));
    const rng = new Rng(9);
    const mixing = Float32Array.from({ length: 12 * 8 }, () => rng.normal());
    const batchOf = (n: number) => {
      // An 8-dimensional signal mixed into 12 correlated inputs; each view adds its own noise.
      const pixels = new Float32Array(n * 12);
      for (let b = 0; b < n; b++) {
        const signal = Array.from({ length: 8 }, () => rng.normal());
        for (let i = 0; i < 12; i++) pixels[b * 12 + i] = signal.reduce((sum, v, k) => sum + v * mixing[i * 8 + k], 0);
      }
      const noise = () => Float32Array.from(pixels, (p) => p + 0.5 * rng.normal());
      return { view1: tf.tensor4d(noise(), [n, 2, 2, 3]), view2: tf.tensor4d(noise(), [n, 2, 2, 3]) };
    };
    const evaluate = () => {
      const batch = batchOf(64);
      task.model.eval();
      const logs = tf.tidy(() => {
        const out = task.validationStep(batch, { epoch: 0, batchIdx: 0, globalStep: 0, training: false });
        return [out.logs!.diag_mean.dataSync()[0], out.logs!.offdiag_abs_mean.dataSync()[0]];
      });
      task.model.train();
      tf.dispose(Object.values(batch));
      return { diag: logs[0], offDiag: logs[1] };
    };
    const before = evaluate();
    for (let step = 0; step < 100; step++) {
      const batch = batchOf(32);
      const { value, grads } = tf.variableGrads(
        () => task.trainingStep(batch, { epoch: 0, batchIdx: step, globalStep: step, training: true }).loss,
        Object.values(task.model.trainableVariables()),
      );
      const names = new Map(Object.entries(task.model.trainableVariables()).map(([n, v]) => [v.name, n]));
      optimizer.step(task.model.trainableVariables(), Object.fromEntries(Object.entries(grads).map(([id, g]) => [names.get(id)!, g])), 1e-2);
      tf.dispose([value, ...Object.values(grads), ...Object.values(batch)]);
    }
    const after = evaluate();
    expect(after.diag).toBeGreaterThan(0.9);
    expect(after.diag).toBeGreaterThan(before.diag);
    expect(after.offDiag).toBeLessThan(before.offDiag * 0.5);
    optimizer.dispose();
    task.model.dispose();
  });
});
