import type { ComponentDefinition, LrSchedule, Registrar, ScheduleContext } from '@bt-platform/sdk';
import { Slots } from '@bt-platform/sdk';
import optimPlugin from '@bt-platform/plugin-optim';

function components(): Map<string, ComponentDefinition<unknown>> {
  const found = new Map<string, ComponentDefinition<unknown>>();
  const registrar: Registrar = {
    component(slot, definition) {
      found.set(`${slot.key}:${definition.name}`, definition as ComponentDefinition<unknown>);
    },
  };
  optimPlugin.register!(registrar, {});
  return found;
}

async function schedule(name: string, options: Record<string, unknown>): Promise<LrSchedule> {
  const def = components().get(`lrSchedule:${name}`)!;
  return (await def.create(def.options!.parse(options), {} as never)) as LrSchedule;
}

const at = (step: number, stepsPerEpoch = 10, maxEpochs = 10, maxSteps = 0): ScheduleContext => ({
  step,
  epoch: Math.floor(step / stepsPerEpoch),
  stepsPerEpoch,
  maxEpochs,
  maxSteps,
});

describe('optim plugin registration', () => {
  it('registers the optimizers and schedules under their names', () => {
    expect([...components().keys()].sort()).toEqual([
      'lrSchedule:constant',
      'lrSchedule:step',
      'lrSchedule:warmup-cosine',
      'optimizer:adam',
      'optimizer:adamw',
      'optimizer:lars',
      'optimizer:sgd',
    ]);
    expect(Slots.optimizer.key).toBe('optimizer');
  });

  it('gives adam no weight decay and adamw 1e-2 by default, and rejects unknown options', () => {
    const all = components();
    expect(all.get('optimizer:adam')!.options!.parse({})).toMatchObject({ weightDecay: 0, lr: 1e-3 });
    expect(all.get('optimizer:adamw')!.options!.parse({})).toMatchObject({ weightDecay: 1e-2 });
    expect(() => all.get('optimizer:adamw')!.options!.parse({ weight_decay: 1 })).toThrow();
  });

  it('exposes the base LR as `lr`', async () => {
    const def = components().get('optimizer:sgd')!;
    const sgd = (await def.create(def.options!.parse({ lr: 0.3 }), {} as never)) as { lr: number };
    expect(sgd.lr).toBe(0.3);
  });
});

describe('warmup-cosine', () => {
  it('warms up linearly over warmupEpochs, then follows a cosine to minLr', async () => {
    const s = await schedule('warmup-cosine', { warmupEpochs: 2, minLr: 0.01 });
    // 10 steps per epoch, 10 epochs: 20 warm-up steps, 80 cosine steps.
    expect(s.lr(1, at(0))).toBeCloseTo(1 / 20, 12);
    expect(s.lr(1, at(9))).toBeCloseTo(10 / 20, 12);
    expect(s.lr(1, at(19))).toBeCloseTo(1, 12);
    expect(s.lr(1, at(20))).toBeCloseTo(1, 12);
    expect(s.lr(1, at(60))).toBeCloseTo(0.01 + 0.5 * 0.99, 12);
    expect(s.lr(1, at(100))).toBeCloseTo(0.01, 12);
    // The trainer passes maxSteps = Infinity when only maxEpochs bounds the run.
    expect(s.lr(1, at(60, 10, 10, Infinity))).toBeCloseTo(0.01 + 0.5 * 0.99, 12);
    const values = Array.from({ length: 80 }, (_, i) => s.lr(1, at(20 + i)));
    values.slice(1).forEach((v, i) => expect(v).toBeLessThan(values[i]));
  });

  it('uses warmupSteps and maxSteps when given', async () => {
    const s = await schedule('warmup-cosine', { warmupSteps: 4, warmupEpochs: 5 });
    expect(s.lr(0.5, at(1, 10, 10, 44))).toBeCloseTo(0.25, 12);
    expect(s.lr(0.5, at(24, 10, 10, 44))).toBeCloseTo(0.25, 12);
    expect(s.lr(0.5, at(44, 10, 10, 44))).toBeCloseTo(0, 12);
  });

  it('can step once per epoch', async () => {
    const s = await schedule('warmup-cosine', { warmupEpochs: 2, interval: 'epoch' });
    expect(s.lr(1, at(5))).toBe(0);
    expect(s.lr(1, at(15))).toBeCloseTo(0.5, 12);
    expect(s.lr(1, at(25))).toBeCloseTo(1, 12);
    expect(s.lr(1, at(65))).toBeCloseTo(0.5, 12);
  });
});

describe('step and constant', () => {
  it('decays by gamma every stepSize epochs', async () => {
    const s = await schedule('step', { stepSize: 3, gamma: 0.5 });
    expect([0, 29, 30, 59, 60, 95].map((t) => s.lr(0.8, at(t)))).toEqual([0.8, 0.8, 0.4, 0.4, 0.2, 0.1]);
  });

  it('decays at milestones', async () => {
    const s = await schedule('step', { milestones: [2, 5] });
    expect(s.lr(1, at(19))).toBe(1);
    expect(s.lr(1, at(20))).toBeCloseTo(0.1, 12);
    expect(s.lr(1, at(50))).toBeCloseTo(0.01, 12);
  });

  it('needs exactly one of stepSize and milestones', async () => {
    await expect(schedule('step', {})).rejects.toThrow(/exactly one of `stepSize` and `milestones`/);
    await expect(schedule('step', { stepSize: 2, milestones: [1] })).rejects.toThrow(/exactly one/);
  });

  it('keeps the base LR after its warm-up', async () => {
    const s = await schedule('constant', { warmupSteps: 2 });
    expect([0, 1, 2, 50].map((t) => s.lr(0.1, at(t)))).toEqual([0.05, 0.1, 0.1, 0.1]);
  });
});
