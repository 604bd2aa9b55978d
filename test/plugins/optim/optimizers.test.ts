import * as tf from '@tensorflow/tfjs';
import type { Optimizer } from '@bt-platform/sdk';
import { AdamW, adamWOptions, Lars, larsOptions, matchesParam, ParamGroups, Sgd, sgdOptions } from '@bt-platform/plugin-optim';
import optimPlugin from '@bt-platform/plugin-optim';
import { Slots } from '@bt-platform/sdk';
import { create, fakeContext } from '../../fixtures/models/modelTesting.js';
import { readTaskFixture, relativeError, type FixtureTensor } from './fixtures.js';

interface OptimCase {
  component: 'adamw' | 'adam' | 'sgd' | 'lars';
  options: Record<string, unknown>;
  lrs: number[];
  params: Record<string, FixtureTensor>;
  grads: Array<Record<string, FixtureTensor>>;
  expected: Record<string, FixtureTensor>;
}

function make(component: OptimCase['component'], options: Record<string, unknown>): Optimizer {
  switch (component) {
    case 'adamw':
      return new AdamW(adamWOptions.parse(options));
    case 'adam':
      return new AdamW(adamWOptions.parse({ weightDecay: 0, ...options }), 'adam');
    case 'sgd':
      return new Sgd(sgdOptions.parse(options));
    case 'lars':
      return new Lars(larsOptions.parse(options));
  }
}

const { cases } = readTaskFixture<{ cases: OptimCase[] }>('optim.json');

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('optimizers against torch.optim', () => {
  it.each(cases.map((c, i) => [`${c.component} ${JSON.stringify(c.options)}`, i] as const))('%s', (_label, i) => {
    const c = cases[i];
    const optimizer = make(c.component, c.options);
    const variables = Object.fromEntries(Object.entries(c.params).map(([k, t]) => [k, tf.variable(tf.tensor(t.data, t.shape))]));
    const before = tf.memory().numTensors;
    c.lrs.forEach((lr, s) => {
      const grads = Object.fromEntries(Object.entries(c.grads[s]).map(([k, t]) => [k, tf.tensor(t.data, t.shape)]));
      optimizer.step(variables, grads, lr);
      tf.dispose(grads);
      // State variables are created on the first step only.
      if (s === 0) expect(tf.memory().numTensors).toBeGreaterThanOrEqual(before);
    });
    const afterSteps = tf.memory().numTensors;
    const grads = Object.fromEntries(Object.entries(c.grads[0]).map(([k, t]) => [k, tf.tensor(t.data, t.shape)]));
    optimizer.step(variables, grads, 0);
    tf.dispose(grads);
    expect(tf.memory().numTensors).toBe(afterSteps);
    // The extra step at LR 0 leaves the parameters unchanged except for LR-independent terms (none here).
    for (const [name, expected] of Object.entries(c.expected)) {
      expect(relativeError(variables[name].dataSync(), expected.data)).toBeLessThan(1e-5);
    }
    optimizer.dispose?.();
    tf.dispose(Object.values(variables));
  });
});

describe('optimizer state', () => {
  it('round-trips through state()/loadState() so a resumed run continues identically', () => {
    const c = cases.find((x) => x.component === 'adamw')!;
    const run = (resumeAt: number | null) => {
      let optimizer = make('adamw', c.options);
      const variables = Object.fromEntries(Object.entries(c.params).map(([k, t]) => [k, tf.variable(tf.tensor(t.data, t.shape))]));
      c.lrs.forEach((lr, s) => {
        if (s === resumeAt) {
          const saved = optimizer.state();
          optimizer.dispose?.();
          optimizer = make('adamw', c.options);
          optimizer.loadState(saved);
        }
        const grads = Object.fromEntries(Object.entries(c.grads[s]).map(([k, t]) => [k, tf.tensor(t.data, t.shape)]));
        optimizer.step(variables, grads, lr);
        tf.dispose(grads);
      });
      const out = Object.fromEntries(Object.entries(variables).map(([k, v]) => [k, Array.from(v.dataSync())]));
      const state = optimizer.state();
      optimizer.dispose?.();
      tf.dispose(Object.values(variables));
      return { out, state };
    };
    const straight = run(null);
    const resumed = run(2);
    expect(resumed.out).toEqual(straight.out);
    expect(Object.keys(straight.state.tensors).sort()).toEqual(['bias.exp_avg', 'bias.exp_avg_sq', 'weight.exp_avg', 'weight.exp_avg_sq']);
    expect(straight.state.json).toEqual({ optimizer: 'adamw', steps: { weight: 4, bias: 4 } });
  });

  it('refuses state saved by another optimizer', () => {
    const sgd = new Sgd(sgdOptions.parse({ momentum: 0.9 }));
    const adamw = new AdamW(adamWOptions.parse({}));
    expect(() => adamw.loadState(sgd.state())).toThrow(/from "sgd", but the config selects "adamw"/);
  });

  it('rejects nesterov without momentum', () => {
    expect(() => new Sgd(sgdOptions.parse({ nesterov: true }))).toThrow(/nesterov needs momentum > 0/);
  });
});

describe('parameter groups', () => {
  it('matches globs against the name or a dotted suffix', () => {
    expect(matchesParam('bias', 'backbone.blocks.0.attn.qkv.bias')).toBe(true);
    expect(matchesParam('pos_embed', 'backbone.pos_embed')).toBe(true);
    expect(matchesParam('*norm*', 'backbone.blocks.0.norm1.weight')).toBe(true);
    expect(matchesParam('head.*', 'backbone.head_x.weight')).toBe(false);
    expect(matchesParam('projector.0.*', 'projector.0.weight')).toBe(true);
  });

  it('excludes rank-1 parameters and noDecay patterns from weight decay; groups set LR scale and decay', () => {
    const groups = new ParamGroups({
      weightDecay: 0.05,
      excludeBiasAndNorm: true,
      noDecay: ['cls_token'],
      groups: [{ params: ['head.*'], lrScale: 10, weightDecay: 0.1 }],
    });
    const w2 = tf.variable(tf.zeros([3, 3]));
    const w1 = tf.variable(tf.zeros([3]));
    const token = tf.variable(tf.zeros([1, 1, 3]));
    expect(groups.settings('backbone.fc.weight', w2)).toEqual({ weightDecay: 0.05, lrScale: 1, excluded: false });
    expect(groups.settings('backbone.norm.weight', w1)).toEqual({ weightDecay: 0, lrScale: 1, excluded: true });
    expect(groups.settings('backbone.cls_token', token)).toEqual({ weightDecay: 0, lrScale: 1, excluded: true });
    expect(groups.settings('head.conv.weight', w2)).toEqual({ weightDecay: 0.1, lrScale: 10, excluded: false });
    expect(groups.settings('head.conv.bias', w1)).toEqual({ weightDecay: 0, lrScale: 10, excluded: true });
    tf.dispose([w2, w1, token]);
  });

  it('selects biases and norms by rank for a group, as the paper\'s LARS learning rates', () => {
    const options = larsOptions.parse({ groups: [{ biasAndNorm: true, lrScale: 0.024 }] });
    const groups = new ParamGroups(options);
    const w = tf.variable(tf.zeros([3, 3, 2, 2]));
    const bnScale = tf.variable(tf.zeros([2]));
    expect(groups.settings('layer1.0.downsample.1.weight', bnScale)).toEqual({ weightDecay: 0, lrScale: 0.024, excluded: true });
    expect(groups.settings('layer1.0.conv1.weight', w)).toEqual({ weightDecay: 1.5e-6, lrScale: 1, excluded: false });
    expect(() => larsOptions.parse({ groups: [{ lrScale: 2 }] })).toThrow(/`params` patterns or `biasAndNorm: true`/);
    tf.dispose([w, bnScale]);
  });
});

describe('LARS memory', () => {
  it('holds at most three parameter-sized temporaries at once during a step (was five)', async () => {
    const variable = tf.variable(tf.randomNormal([256, 256], 0, 1, 'float32', 1));
    const grad = tf.randomNormal([256, 256], 0, 1, 'float32', 2);
    const optimizer = new Lars(larsOptions.parse({ weightDecay: 1e-4 }));
    const bytes = 256 * 256 * 4;
    optimizer.step({ w: variable }, { w: grad }, 0.1); // creates the momentum
    const held = tf.memory().numBytes;
    const info = await tf.profile(() => optimizer.step({ w: variable }, { w: grad }, 0.1));
    expect(info.peakBytes - held).toBeLessThanOrEqual(3 * bytes + 1024);
    optimizer.dispose?.();
    tf.dispose([variable, grad]);
  });
});

describe.each(['adamw', 'adam', 'sgd', 'lars'])('%s: a group that matches no parameter', (name) => {
  it('is reported when the core attaches the model\'s parameters, naming the group, its patterns and the names there are; a frozen match counts', async () => {
    const ctx = fakeContext();
    const groups = [{ params: ['backone.*'], lrScale: 0.1 }, { params: ['head.*'], lrScale: 2 }, { params: ['frozen.*'], lrScale: 3 }, { biasAndNorm: true, lrScale: 0.5 }];
    const optimizer = await create<Optimizer>(optimPlugin, Slots.optimizer, name, { lr: 0.1, groups }, ctx);
    const variables = { 'backbone.blocks.0.weight': tf.variable(tf.ones([2, 2])), 'backbone.norm.bias': tf.variable(tf.zeros([2])), 'head.weight': tf.variable(tf.ones([2, 3])) };
    const frozen = tf.variable(tf.ones([2]), false);
    optimizer.attach!({ ...variables, 'frozen.weight': frozen });
    expect(ctx.log.lines).toHaveLength(1);
    for (const part of ['optimizer.groups[0].params ["backone.*"]', "none of the model's 4 parameters", 'backbone.blocks.0.weight, head.weight, frozen.weight', 'or remove the group'])
      expect(ctx.log.lines[0]).toContain(part);
    // Steps (which see only what trains) report nothing more.
    const grads = Object.fromEntries(Object.entries(variables).map(([key, v]) => [key, tf.onesLike(v)]));
    optimizer.step(variables, grads, 0.1);
    expect(ctx.log.lines).toHaveLength(1);
    optimizer.dispose?.();
    tf.dispose([...Object.values(variables), frozen, ...Object.values(grads)]);
  });
});
