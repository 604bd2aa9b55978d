import { copyFileSync, mkdtempSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadRunConfig, run } from '@bt-platform/core';
import type { BtError, PluginDefinition } from '@bt-platform/sdk';
import { toyPlugin } from '@bt-platform/sdk/testing';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'bt-pipeline-'));

const pipeline = (runDir: string) => ({
  name: 'pipe',
  seed: 4,
  runDir,
  backend: { use: 'cpu' },
  data: { use: 'toy', samples: 32, valSamples: 8, batchSize: 8 },
  model: { backbone: { use: 'vit', variant: 'tiny/16' } },
  task: { use: 'toy-regression' },
  optimizer: { use: 'adamw', lr: 0.02 },
  trainer: { maxEpochs: 1 },
  callbacks: [{ use: 'checkpoint', monitor: 'val/loss' }],
  stages: [
    { name: 'first', trainer: { maxEpochs: 2 } },
    // Reads the first stage's summary, so a resumed pipeline must supply it.
    { name: 'second', trainer: { maxEpochs: 3 }, optimizer: { use: 'sgd', lr: 0.05 }, model: { backbone: { variant: 'small/16' } }, loggers: [{ use: 'csv', file: '${stages.first.steps}-steps.csv' }], plugins: ['bt-platform-plugin-hello'] },
  ],
});

const error = (promise: Promise<unknown>) => promise.then(() => undefined, (e: unknown) => e as BtError);

describe('--set on a pipeline', () => {
  const stageRaws = async (overrides: string[]) => {
    const { stages } = await loadRunConfig({ config: pipeline(tmp()), overrides });
    return Object.fromEntries(stages.map((s) => [s.name, s.raw as Record<string, any>]));
  };

  test('a top-level key applies to every stage, over the stage\'s own value', async () => {
    const { first, second } = await stageRaws(['trainer.maxEpochs=7', 'model.backbone={use: resnet}']);
    expect([first.trainer.maxEpochs, second.trainer.maxEpochs]).toEqual([7, 7]);
    expect([first.model.backbone, second.model.backbone]).toEqual([{ use: 'resnet' }, { use: 'resnet' }]);
  });

  test('stages.<name>.key and stages.<index>.key apply to that stage alone', async () => {
    const { first, second } = await stageRaws(['stages.second.trainer.maxEpochs=5', 'stages.0.optimizer.lr=0.5', 'trainer.limitTrainBatches=2']);
    expect(first.trainer).toEqual({ maxEpochs: 2, limitTrainBatches: 2 });
    expect(second.trainer).toEqual({ maxEpochs: 5, limitTrainBatches: 2 });
    expect([first.optimizer.lr, second.optimizer.lr]).toEqual([0.5, 0.05]);
  });

  test('an unknown stage, or a stage key on a config without stages, is a config error', async () => {
    const unknown = await error(loadRunConfig({ config: pipeline(tmp()), overrides: ['stages.third.seed=1'] }));
    expect(unknown?.exitCode).toBe(2);
    expect(unknown?.message).toMatch(/--set stages\.third\.seed=1: config has no stage "third"/);
    expect(unknown?.hint).toMatch(/first, second/);
    const { stages: _, ...single } = pipeline(tmp());
    const noStages = await error(loadRunConfig({ config: single, overrides: ['stages.first.seed=1'] }));
    expect(noStages?.message).toMatch(/has no `stages`/);
  });
});

/** Ctrl-C during the given training batch of one stage. */
function interruptIn(stage: string, batch: number): PluginDefinition {
  return {
    name: 'interrupt-in',
    apply(hooks, ctx) {
      let seen = 0;
      hooks.trainBatchEnd.tapPromise('interrupt-in', async () => {
        if (path.basename(ctx.runDir) === stage && ++seen === batch) process.emit('SIGINT', 'SIGINT');
      });
    },
  };
}

describe('--resume on a pipeline', () => {
  // The backbone is there for the --set cases above; the toy task has no use for it.
  const config = (runDir: string) => {
    const { model: _, stages, ...rest } = pipeline(runDir);
    return { ...rest, stages: stages.map(({ model: __, ...stage }: Record<string, unknown>) => stage) };
  };

  test('resumes the stage the checkpoint belongs to, with the earlier stages\' results, and runs the rest', async () => {
    const straight = await run({ config: config(tmp()), plugins: [toyPlugin], quiet: true });
    const runDir = tmp();
    const interrupted = await run({ config: config(runDir), plugins: [toyPlugin, interruptIn('second', 6)], handleSignals: true, quiet: true });
    expect(interrupted.status).toBe('interrupted');
    const checkpoint = interrupted.stages![1].summary.lastCheckpoint as string;
    expect(checkpoint).toMatch(/second\/checkpoints\/last\.safetensors$/);

    const resumed = await run({ config: config(runDir), plugins: [toyPlugin], resume: checkpoint, quiet: true });
    expect(resumed.status).toBe('completed');
    expect(resumed.stages!.map((s) => path.basename(s.runDir))).toEqual(['second']);
    expect(readdirSync(resumed.runDir)).not.toContain('first');
    expect(readdirSync(resumed.stages![0].runDir)).toContain('8-steps.csv');
    expect(resumed.summary).toMatchObject({ resumedFrom: interrupted.runDir, stages: { first: { status: 'completed', steps: 8 }, second: { status: 'completed' } } });
    expect(resumed.stages![0].summary.steps).toBe(straight.stages![1].summary.steps);
    expect(Math.abs(resumed.metrics['val/loss'] - straight.metrics['val/loss'])).toBeLessThan(1e-6);
  });

  test('a checkpoint outside the pipeline\'s stage directories is refused, naming --stage', async () => {
    const runDir = tmp();
    const done = await run({ config: { ...config(runDir), stages: [{ name: 'first' }, { name: 'second' }] }, plugins: [toyPlugin], quiet: true });
    const elsewhere = path.join(tmp(), 'last.safetensors');
    copyFileSync(done.stages![0].summary.lastCheckpoint as string, elsewhere);
    const refused = await error(run({ config: config(runDir), plugins: [toyPlugin], resume: elsewhere, quiet: true }));
    expect(refused?.exitCode).toBe(2);
    expect(refused?.message).toMatch(/not in the run directory of one of its stages/);
    expect(refused?.hint).toMatch(/--stage NAME/);
  });
});
