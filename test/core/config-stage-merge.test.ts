import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadRunConfig } from '@bt-platform/core';

/** Writes the files into a fresh directory and loads `top.yaml` with the overrides. */
async function load(files: Record<string, string>, overrides: string[] = []) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bt-stage-merge-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  const { stages } = await loadRunConfig({ configFile: path.join(dir, 'top.yaml'), overrides });
  return Object.fromEntries(stages.map((s) => [s.name, s.raw])) as Record<string, Record<string, any>>;
}

const uses = (list: Array<{ use: string }>) => list.map((c) => c.use);

/** A two-stage pipeline whose stages set the head, callbacks and trainer themselves. */
const pipeline = [
  'model:',
  '  backbone: { use: vit, variant: custom, patchSize: 8, depth: 2 }',
  'trainer: { maxEpochs: 20 }',
  'stages:',
  '  - name: pretrain',
  '    task: { use: barlow-twins, projectorDim: 32 }',
  '    callbacks: [{ use: progress }, { use: checkpoint, monitor: val/loss }, { use: attention-maps, everyNEpochs: 5 }]',
  '  - name: finetune',
  '    model:',
  '      head: { use: linear, numClasses: 21 }',
  '    task: { use: segmentation, backboneCheckpoint: "${stages.pretrain.checkpoint}" }',
  '    trainer: { maxEpochs: 60, valEveryNEpochs: 5 }',
  '',
].join('\n');

describe('a config extending a pipeline edits its stages by name', () => {
  test('a stage named like a base stage merges into it, with the directives; the others stay, in order', async () => {
    const stages = await load({
      'base.yaml': pipeline,
      'top.yaml': [
        'extends: base.yaml',
        'stages:',
        '  - name: finetune',
        '    model:',
        '      head: { use: setr-naive }',
        '    trainer: { valEveryNEpochs: null }',
        '  - name: pretrain',
        '    callbacks: { $remove: [attention-maps] }',
        '',
      ].join('\n'),
    });
    expect(Object.keys(stages)).toEqual(['pretrain', 'finetune']);
    expect(uses(stages.pretrain.callbacks)).toEqual(['progress', 'checkpoint']);
    expect(stages.pretrain.task).toEqual({ use: 'barlow-twins', projectorDim: 32 });
    // Another `use`: the linear head's numClasses is not inherited.
    expect(stages.finetune.model.head).toEqual({ use: 'setr-naive' });
    expect(stages.finetune.trainer).toEqual({ maxEpochs: 60 });
    expect(stages.finetune.task.backboneCheckpoint).toBe('${stages.pretrain.checkpoint}');
  });

  test('a new name adds a stage after the inherited ones; $replace: true replaces a stage', async () => {
    const stages = await load({
      'base.yaml': pipeline,
      'top.yaml': [
        'extends: base.yaml',
        'stages:',
        '  - name: probe',
        '    task: { use: segmentation }',
        '  - name: pretrain',
        '    $replace: true',
        '    task: { use: barlow-twins }',
        '',
      ].join('\n'),
    });
    expect(Object.keys(stages)).toEqual(['pretrain', 'finetune', 'probe']);
    expect(stages.pretrain.task).toEqual({ use: 'barlow-twins' });
    expect('callbacks' in stages.pretrain).toBe(false);
    expect(stages.probe.task).toEqual({ use: 'segmentation' });
  });

  test('$remove drops a stage by name; an unknown name lists the stages', async () => {
    const stages = await load({ 'base.yaml': pipeline, 'top.yaml': 'extends: base.yaml\nstages: { $remove: [finetune] }\n' });
    expect(Object.keys(stages)).toEqual(['pretrain']);
    await expect(load({ 'base.yaml': pipeline, 'top.yaml': 'extends: base.yaml\nstages: { $remove: [fine-tune] }\n' })).rejects.toThrow(
      /top\.yaml: stages\.\$remove: no stage "fine-tune" in the inherited list \(it has: pretrain, finetune\)/,
    );
  });

  test('a stage without a name cannot say which base stage it edits', async () => {
    await expect(load({ 'base.yaml': pipeline, 'top.yaml': 'extends: base.yaml\nstages:\n  - trainer: { maxEpochs: 1 }\n' })).rejects.toThrow(
      /top\.yaml: stages\.0\.name: .*needs a name.*pretrain, finetune/,
    );
  });

  test('top-level keys of the extending config go under every stage; a value a base stage sets wins unless that stage is edited', async () => {
    const stages = await load({
      'base.yaml': pipeline,
      'top.yaml': [
        'extends: base.yaml',
        'model:',
        '  backbone: { use: tiny-cnn, featureDim: 16 }',
        '  head: { use: setr-naive }',
        'trainer: { maxEpochs: 2 }',
        '',
      ].join('\n'),
    });
    // The backbone is set at the top of the base only, so every stage takes the new one, without the ViT's options.
    for (const stage of Object.values(stages)) expect(stage.model.backbone).toEqual({ use: 'tiny-cnn', featureDim: 16 });
    expect(stages.pretrain.trainer).toEqual({ maxEpochs: 2 });
    // finetune sets its own head and maxEpochs.
    expect(stages.finetune.model.head).toEqual({ use: 'linear', numClasses: 21 });
    expect(stages.finetune.trainer.maxEpochs).toBe(60);
  });

  test('files listed in `extends` merge their stages by name too, and --set stages.<name> applies after', async () => {
    const stages = await load(
      {
        'base.yaml': pipeline,
        'fast.yaml': 'stages:\n  - name: finetune\n    trainer: { maxEpochs: 3 }\n',
        'top.yaml': 'extends: [base.yaml, fast.yaml]\nstages:\n  - name: finetune\n    trainer: { valEveryNEpochs: 1 }\n',
      },
      ['stages.finetune.trainer.limitTrainBatches=2'],
    );
    expect(stages.finetune.trainer).toEqual({ maxEpochs: 3, valEveryNEpochs: 1, limitTrainBatches: 2 });
    expect(stages.finetune.model.head.use).toBe('linear');
  });

  test('a config that extends a single run may still list its stages', async () => {
    const stages = await load({ 'base.yaml': 'trainer: { maxEpochs: 2 }\n', 'top.yaml': 'extends: base.yaml\nstages:\n  - name: a\n  - name: b\n' });
    expect(Object.keys(stages)).toEqual(['a', 'b']);
    expect(stages.b.trainer).toEqual({ maxEpochs: 2 });
  });
});
