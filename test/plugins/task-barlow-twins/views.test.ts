import * as tf from '@tensorflow/tfjs';
import { ConfigError, Slots, type Backbone } from '@bt-platform/sdk';
import { BarlowTwinsTask, barlowTwinsOptions } from '@bt-platform/plugin-task-barlow-twins';
import vitPlugin from '@bt-platform/plugin-backbone-vit';
import resnetPlugin from '@bt-platform/plugin-backbone-resnet';
import { useWebGpuBackend } from '@bt-platform/plugin-backend-webgpu';
import { create, fakeContext, image } from '../../fixtures/models/modelTesting.js';


const vit = () => create<Backbone>(vitPlugin, Slots.backbone, 'vit', { variant: 'custom', imageSize: 16, patchSize: 4, embedDim: 16, depth: 2, heads: 2 }, fakeContext());
const resnet = () => create<Backbone>(resnetPlugin, Slots.backbone, 'resnet18', { baseWidth: 2 }, fakeContext());

/** One training step: the loss, every parameter's gradient, and how often the backbone ran. */
function step(backbone: Backbone, views: 'auto' | 'joint' | 'separate') {
  const task = new BarlowTwinsTask(backbone, barlowTwinsOptions.parse({ projectorDim: 8, views }), 5);
  let passes = 0;
  const untap = backbone.observeForward('count', () => passes++);
  const batch = { view1: image(3, 16, 16), view2: tf.tidy(() => tf.reverse(image(3, 16, 16), 2)) };
  try {
    const named = Object.entries(task.model.trainableVariables());
    const { value, grads } = tf.variableGrads(() => task.trainingStep(batch).loss as tf.Scalar, named.map(([, v]) => v));
    const result = { loss: value.dataSync()[0], grads: Object.fromEntries(named.map(([name, v]) => [name, Array.from(grads[v.name].dataSync())])), passes };
    tf.dispose([value, ...Object.values(grads)]);
    return result;
  } finally {
    untap();
    tf.dispose(Object.values(batch));
    task.model.dispose();
  }
}

describe('task.views: both views through the backbone as one batch or one pass each', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('gives a ViT the same loss and gradients joint as separate, in one backbone pass instead of two', async () => {
    const separate = step(await vit(), 'separate');
    const joint = step(await vit(), 'joint');
    expect([separate.passes, joint.passes]).toEqual([2, 1]);
    expect(Math.abs(joint.loss - separate.loss)).toBeLessThan(1e-5 * Math.abs(separate.loss));
    expect(Object.keys(joint.grads).sort()).toEqual(Object.keys(separate.grads).sort());
    for (const [name, expected] of Object.entries(separate.grads)) {
      const scale = Math.max(1e-6, ...expected.map(Math.abs));
      const worst = Math.max(...joint.grads[name].map((g, i) => Math.abs(g - expected[i])));
      expect({ name, relativeError: worst / scale < 1e-4 }).toEqual({ name, relativeError: true });
    }
  });

  it('runs the views separately on the cpu backend when left at auto', async () => {
    expect(step(await vit(), 'auto').passes).toBe(2);
  });

  it('refuses joint for a backbone with BatchNorm in training (each view would get the other’s statistics)', async () => {
    const backbone = await resnet();
    expect(backbone.mixesSamples()).toBe(true);
    const error = (() => {
      try {
        step(backbone, 'joint');
      } catch (e) {
        return e as ConfigError;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect(error!.message).toMatch(/`views: joint`.*BatchNorm/);
    expect(error!.hint).toMatch(/task\.views: auto/);
  });

  it('treats a ResNet in eval mode (frozen BatchNorm) as sample-independent', async () => {
    const backbone = (await resnet()).eval();
    expect(backbone.mixesSamples()).toBe(false);
    expect(backbone.train().mixesSamples()).toBe(true);
    backbone.dispose();
  });
});

const webgpu = await useWebGpuBackend({ allowSoftware: true }).then(
  () => true,
  () => false,
);
(webgpu ? describe : describe.skip)('task.views: auto on webgpu', () => {
  it('runs a ViT’s views as one batch and a ResNet’s (BatchNorm) one pass each', async () => {
    await useWebGpuBackend({ allowSoftware: true });
    expect(step(await vit(), 'auto').passes).toBe(1);
    expect(step(await resnet(), 'auto').passes).toBe(2);
    await tf.setBackend('cpu');
  }, 300_000);
});
