import * as tf from '@tensorflow/tfjs';
import { Module, ModuleList, Rng } from '@bt-platform/sdk';
import '@tensorflow/tfjs-backend-wasm';
import { ActivationCheckpointing, AUTO_CHECKPOINT_FRACTION, BatchNorm1d, checkpointActivations, gelu, Linear, memoryCeiling, recompute } from '@bt-platform/sdk/nn';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** A residual block with every kind of state recomputation must respect: a child, BatchNorm statistics and dropout. */
class Block extends Module {
  readonly fc1: Linear;
  readonly norm: BatchNorm1d;
  readonly fc2: Linear;

  constructor(
    width: number,
    seed: number,
    readonly rng: Rng,
    private readonly dropout = 0.3,
  ) {
    super();
    this.fc1 = this.registerModule('fc1', new Linear(width, 2 * width, seed));
    this.norm = this.registerModule('norm', new BatchNorm1d(2 * width));
    this.fc2 = this.registerModule('fc2', new Linear(2 * width, width, seed + 1));
  }

  forward(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const hidden = gelu(this.norm.call(this.fc1.call(x) as tf.Tensor2D));
      const dropped = this.training ? tf.dropout(hidden, this.dropout, undefined, this.rng.tfSeed()) : hidden;
      return tf.add(x, this.fc2.call(dropped as tf.Tensor2D)) as tf.Tensor2D;
    });
  }
}

class Stack extends Module {
  readonly blocks: ModuleList<Block>;

  constructor(
    depth: number,
    width: number,
    private readonly checkpoint: boolean,
    private readonly offload = false,
  ) {
    super();
    this.blocks = this.registerModule('blocks', new ModuleList(Array.from({ length: depth }, (_, i) => new Block(width, 10 + 2 * i, new Rng(7).fork('block', i)))));
  }

  forward(x: tf.Tensor2D): tf.Tensor2D {
    return this.blocks.items.reduce((h, block) => (this.checkpoint ? checkpointActivations(block, h, { rngs: [block.rng], offload: this.offload }) : block.call(h)), x);
  }
}

const input = () => tf.randomNormal([6, 8], 0, 1, 'float32', 3) as tf.Tensor2D;

function gradients(model: Stack, x: tf.Tensor2D): Record<string, Float32Array> {
  const variables = model.trainableVariables();
  const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(model.call(x))) as tf.Scalar, Object.values(variables));
  value.dispose();
  const byName = new Map(Object.entries(variables).map(([name, v]) => [v.name, name]));
  const out: Record<string, Float32Array> = {};
  for (const [id, g] of Object.entries(grads)) out[byName.get(id)!] = g.dataSync() as Float32Array;
  tf.dispose(Object.values(grads));
  return out;
}

describe('checkpointActivations', () => {
  test.each([false, true])('gradients equal those of the plain forward (dropout, BatchNorm, nested customGrads) to 1e-5 (offload: %s)', (offload) => {
    const plain = new Stack(3, 8, false);
    const recomputed = new Stack(3, 8, true, offload);
    const x = input();
    const expected = gradients(plain, x);
    const actual = gradients(recomputed, x);
    expect(Object.keys(actual).sort()).toEqual(Object.keys(expected).sort());
    for (const [name, values] of Object.entries(expected)) {
      const got = actual[name];
      const worst = Math.max(...Array.from(values, (v, i) => Math.abs(v - got[i])));
      expect({ name, worst: worst <= 1e-5 }).toEqual({ name, worst: true });
    }
    // Running statistics moved once per forward, as without recomputation.
    for (const key of ['blocks.1.norm.running_mean', 'blocks.1.norm.running_var', 'blocks.1.norm.num_batches_tracked']) {
      expect(Array.from(recomputed.stateDict()[key].data)).toEqual(Array.from(plain.stateDict()[key].data));
    }
    expect(recomputed.stateDict()['blocks.1.norm.num_batches_tracked'].data[0]).toBe(1);
    // The generators end where the plain forward leaves them, so the next step draws the same masks.
    expect(recomputed.blocks.items[2].rng.state()).toEqual(plain.blocks.items[2].rng.state());
    plain.dispose();
    recomputed.dispose();
    x.dispose();
  });

  test('forward hooks fire once per forward, the block’s own with the output the model goes on with', () => {
    const model = new Stack(2, 8, true);
    const seen: string[] = [];
    let blockOutput: tf.Tensor | undefined;
    let nextInput: tf.Tensor | undefined;
    model.blocks.items[0].fc1.forwardHook.tap('test', (e) => seen.push(e.name));
    model.blocks.items[0].forwardHook.tap('test', (e) => {
      seen.push(e.name);
      blockOutput = e.output as tf.Tensor;
    });
    model.blocks.items[1].forwardHook.tap('test', (e) => {
      nextInput = e.inputs[0] as tf.Tensor;
    });
    const x = input();
    gradients(model, x);
    expect(seen).toEqual(['blocks.0.fc1', 'blocks.0']);
    expect(blockOutput).toBe(nextInput);
    model.dispose();
    x.dispose();
  });

  test('outside a gradient computation, or in eval mode, it is the plain call', () => {
    const model = new Stack(2, 8, true);
    const block = model.blocks.items[0];
    const x = input();
    let calls = 0;
    block.forwardHook.tap('test', () => calls++);
    const before = tf.memory().numTensors;
    tf.dispose(checkpointActivations(block, x));
    model.eval();
    tf.dispose(tf.grad((t) => tf.sum(checkpointActivations(block, t as tf.Tensor2D)))(x));
    expect(calls).toBe(2);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
    x.dispose();
  });

  test('a training step leaves the tensor count unchanged', () => {
    const model = new Stack(3, 8, true);
    const x = input();
    gradients(model, x);
    const before = tf.memory().numTensors;
    gradients(model, x);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
    x.dispose();
  });

  test('a deep stack holds less memory at the peak of a step, less still with its inputs offloaded', async () => {
    const peak = async (checkpoint: boolean, offload = false) => {
      const model = new Stack(6, 16, checkpoint, offload);
      const x = tf.randomNormal([128, 16], 0, 1, 'float32', 1) as tf.Tensor2D;
      const profile = await tf.profile(() => {
        gradients(model, x);
      });
      model.dispose();
      x.dispose();
      return profile.peakBytes;
    };
    const plain = await peak(false);
    const recomputed = await peak(true);
    const offloaded = await peak(true, true);
    expect(recomputed).toBeLessThan(plain / 2);
    expect(offloaded).toBeLessThan(recomputed);
  });

  test('recompute differentiates a plain function of its input and variables', () => {
    const w = tf.variable(tf.tensor2d([[0.5, -1], [2, 0.25]]));
    const x = tf.tensor2d([[1, 2], [3, -1]]);
    const f = (t: tf.Tensor) => tf.tanh(tf.matMul(t as tf.Tensor2D, w)) as tf.Tensor;
    const loss = (useRecompute: boolean) => () => tf.sum(tf.square(useRecompute ? recompute(f, x, [w]) : f(x))) as tf.Scalar;
    const expected = tf.variableGrads(loss(false), [w]);
    const actual = tf.variableGrads(loss(true), [w]);
    const a = actual.grads[w.name].dataSync();
    expected.grads[w.name].dataSync().forEach((v, i) => expect(a[i]).toBeCloseTo(v, 6));
    tf.dispose([expected.value, actual.value, ...Object.values(expected.grads), ...Object.values(actual.grads), w, x]);
  });

  describe('auto', () => {
    const decide = (estimate: number, training = true, record = true) => {
      const model = new Stack(1, 4, false).train(training);
      const messages: string[] = [];
      const policy = new ActivationCheckpointing('auto', () => estimate, (m) => messages.push(m));
      const x = tf.zeros([2, 4]);
      let on = false;
      if (record) tf.dispose(tf.grad(() => ((on = policy.enabled(model, x)), tf.sum(x)))(x));
      else on = policy.enabled(model, x);
      model.dispose();
      x.dispose();
      return { on, messages };
    };

    afterAll(async () => {
      await tf.setBackend('cpu');
    });

    test('is off on a backend without a memory ceiling, however large the estimate', async () => {
      await tf.setBackend('cpu');
      expect(memoryCeiling()).toBeUndefined();
      expect(decide(1e15).on).toBe(false);
    });

    test('on wasm, turns on when the estimate would pass its share of the 4 GB heap, and says so once', async () => {
      await tf.setBackend('wasm');
      const ceiling = memoryCeiling()!;
      expect(ceiling).toBe(4294901760);
      expect(decide(1e6).on).toBe(false);
      const over = decide(AUTO_CHECKPOINT_FRACTION * ceiling);
      expect(over.on).toBe(true);
      expect(over.messages).toEqual([expect.stringContaining('checkpointActivations: auto')]);
      // Only training steps recompute: not eval mode, not a forward without gradients.
      expect(decide(1e15, false).on).toBe(false);
      expect(decide(1e15, true, false).on).toBe(false);
    });

    test('on wasm, counts the gradients of the trainable variables and the optimizer’s temporaries, which no batch size lowers', async () => {
      await tf.setBackend('wasm');
      const threshold = AUTO_CHECKPOINT_FRACTION * memoryCeiling()!;
      // Activations just under the threshold next to what is held now; the 16 MB projection's
      // gradient and an optimizer update of it (16 + 3 × 16 MB) push the step over.
      const justUnder = () => threshold - tf.memory().numBytes - 32 * 2 ** 20;
      expect(decide(justUnder()).on).toBe(false);
      const head = tf.variable(tf.zeros([4096, 1024]), true);
      const frozen = tf.variable(tf.zeros([4096, 1024]), false);
      try {
        const model = new Stack(1, 4, false).train(true);
        const policy = new ActivationCheckpointing('auto', justUnder);
        const x = tf.zeros([2, 4]);
        let on = false;
        tf.dispose(tf.grad(() => ((on = policy.enabled(model, x)), tf.sum(x)))(x));
        expect(on).toBe(true);
        // A frozen variable gets no gradient: on its own it would not turn recomputation on.
        head.trainable = false;
        tf.dispose(tf.grad(() => ((on = policy.enabled(model, x)), tf.sum(x)))(x));
        expect(on).toBe(false);
        model.dispose();
        x.dispose();
      } finally {
        tf.dispose([head, frozen]);
      }
    });
  });
});
