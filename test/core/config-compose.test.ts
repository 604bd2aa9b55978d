import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadRunConfig } from '@bt-platform/core';

/** Writes the files into a fresh directory and loads `top.yaml` with the overrides. */
async function load(files: Record<string, string>, overrides: string[] = []) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bt-compose-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return loadRunConfig({ configFile: path.join(dir, 'top.yaml'), overrides });
}

const vitBase = 'model:\n  backbone: { use: vit, variant: custom, imageSize: 32, patchSize: 8, embedDim: 64, depth: 2, heads: 4, mlpRatio: 2 }\n';
const callbacksBase = 'callbacks: [{ use: progress }, { use: checkpoint, monitor: val/loss }, { use: lr-monitor }]\nplugins: [a-plugin, { use: b-plugin, x: 1 }]\n';

describe('composing configs', () => {
  test('a slot whose `use` changes replaces the base component instead of inheriting its options', async () => {
    const { stages } = await load({ 'base.yaml': vitBase, 'top.yaml': 'extends: base.yaml\nmodel:\n  backbone: { use: resnet18, dilated: true }\n' });
    expect(stages[0].raw.model).toEqual({ backbone: { use: 'resnet18', dilated: true } });
  });

  test('the same `use` (or none) merges key by key', async () => {
    const { stages } = await load({ 'base.yaml': vitBase, 'top.yaml': 'extends: base.yaml\nmodel:\n  backbone: { use: vit, depth: 4 }\n' });
    expect(stages[0].raw.model).toEqual({ backbone: { use: 'vit', variant: 'custom', imageSize: 32, patchSize: 8, embedDim: 64, depth: 4, heads: 4, mlpRatio: 2 } });
    const partial = await load({ 'base.yaml': vitBase, 'top.yaml': 'extends: base.yaml\nmodel:\n  backbone: { depth: 4 }\n' });
    expect((partial.stages[0].raw.model as any).backbone.depth).toBe(4);
    expect((partial.stages[0].raw.model as any).backbone.use).toBe('vit');
  });

  test('$replace: true replaces any object; null removes a key', async () => {
    const { stages } = await load({
      'base.yaml': `${vitBase}trainer: { maxEpochs: 5, gradClipNorm: 1 }\nlrSchedule: { use: step }\n`,
      'top.yaml': 'extends: base.yaml\nmodel:\n  backbone: { $replace: true, use: vit, variant: small/16 }\ntrainer: { gradClipNorm: null }\nlrSchedule: null\n',
    });
    expect(stages[0].raw.model).toEqual({ backbone: { use: 'vit', variant: 'small/16' } });
    expect(stages[0].raw.trainer).toEqual({ maxEpochs: 5 });
    expect('lrSchedule' in stages[0].raw).toBe(false);
  });

  test('$remove, $prepend and $append edit an inherited list without restating it', async () => {
    const { stages } = await load({
      'base.yaml': callbacksBase,
      'top.yaml': 'extends: base.yaml\ncallbacks: { $remove: [checkpoint], $prepend: [{ use: erf }], $append: [{ use: predictions }] }\nplugins: { $remove: [a-plugin, b-plugin] }\n',
    });
    expect(stages[0].raw.callbacks).toEqual([{ use: 'erf' }, { use: 'progress' }, { use: 'lr-monitor' }, { use: 'predictions' }]);
    expect(stages[0].raw.plugins).toEqual([]);
  });

  test('$remove of a name the list does not hold is an error listing what it holds', async () => {
    await expect(load({ 'base.yaml': callbacksBase, 'top.yaml': 'extends: base.yaml\ncallbacks: { $remove: checkpont }\n' })).rejects.toThrow(
      /top\.yaml: callbacks\.\$remove: no entry "checkpont" in the inherited list \(it has: progress, checkpoint, lr-monitor\)/,
    );
    await expect(load({ 'top.yaml': 'trainer: { $append: [1] }\ncallbacks: { $append: [{ use: x }], extra: 1 }\n' })).rejects.toThrow(/callbacks: extra cannot stand next to \$append/);
  });

  test('--set swaps a component, removes a key and edits a list the same way', async () => {
    const files = { 'base.yaml': `${vitBase}${callbacksBase}`, 'top.yaml': 'extends: base.yaml\ntrainer: { maxEpochs: 3, gradClipNorm: 1 }\n' };
    const { stages } = await load(files, ['model.backbone={use: resnet50}', 'trainer.gradClipNorm=null', 'callbacks={$remove: [progress], $append: [{use: erf}]}', 'trainer={fastDevRun: true}']);
    expect(stages[0].raw.model).toEqual({ backbone: { use: 'resnet50' } });
    expect(stages[0].raw.trainer).toEqual({ maxEpochs: 3, fastDevRun: true });
    expect((stages[0].raw.callbacks as Array<{ use: string }>).map((c) => c.use)).toEqual(['checkpoint', 'lr-monitor', 'erf']);
  });

  test('a pipeline stage swaps a shared component and edits shared lists; --set applies once per stage', async () => {
    const { stages } = await load(
      {
        'base.yaml': `${vitBase}${callbacksBase}`,
        'stage.yaml': 'trainer: { maxEpochs: 9 }\n',
        'top.yaml': [
          'extends: base.yaml',
          'stages:',
          '  - name: pretrain',
          '    callbacks: { $append: [{ use: cross-correlation }] }',
          '  - name: finetune',
          '    extends: stage.yaml',
          '    model: { backbone: { use: resnet18 } }',
          '    callbacks: { $remove: [checkpoint, lr-monitor] }',
          '    lrSchedule: { use: step }',
          '  - name: probe',
          '    lrSchedule: null',
          '',
        ].join('\n'),
      },
      ['callbacks={$append: [{use: erf}]}', 'stages.probe.model.backbone.depth=6'],
    );
    const uses = (raw: Record<string, unknown>) => (raw.callbacks as Array<{ use: string }>).map((c) => c.use);
    expect(uses(stages[0].raw)).toEqual(['progress', 'checkpoint', 'lr-monitor', 'cross-correlation', 'erf']);
    expect(uses(stages[1].raw)).toEqual(['progress', 'erf']);
    expect(stages[1].raw.model).toEqual({ backbone: { use: 'resnet18' } });
    expect(stages[1].raw.trainer).toEqual({ maxEpochs: 9 });
    expect((stages[2].raw.model as any).backbone).toMatchObject({ use: 'vit', depth: 6, patchSize: 8 });
    expect('lrSchedule' in stages[2].raw).toBe(false);
  });
});
