import { mkdtempSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkStages, loadRunConfig, run } from '@bt-platform/core';
import type { BtError } from '@bt-platform/sdk';
import { HookRecorder } from '@bt-platform/sdk/testing';

describe('compatibility checks before running', () => {
  test('a pipeline whose last stage does not fit stops before its first stage starts: no hook fires, no run directory', async () => {
    const runDir = mkdtempSync(path.join(os.tmpdir(), 'bt-compat-'));
    const recorder = new HookRecorder();
    const error = (await run({
      configFile: 'configs/quickstart.yaml',
      // The fine-tuning head needs four intermediate maps; the backbone now gives one.
      overrides: [`runDir=${runDir}`, 'stages.finetune.model.head.use=setr-mla', 'stages.finetune.model.backbone.outIndices=[1]'],
      plugins: [recorder.plugin()],
      quiet: true,
    }).catch((e: unknown) => e)) as BtError;
    expect({ code: error.code, exitCode: error.exitCode }).toEqual({ code: 'CONFIG_INVALID', exitCode: 2 });
    expect(error.message).toContain('configs/quickstart.yaml: a problem found before running anything');
    expect(error.message).toContain('stages.finetune: model.head.use: setr-mla needs exactly 4 intermediate feature maps, but model.backbone.use: vit gives transformer tokens and a feature map (stride 8, 1 intermediate map)');
    expect(error.message).toContain('give model.backbone 4 block indices in `outIndices`');
    expect(recorder.calls).toEqual([]);
    expect(readdirSync(runDir)).toEqual([]);
  });

  test.each(['configs/quickstart.yaml', 'configs/segmentation/resnet50-deeplabv3.yaml', 'configs/segmentation/vit-small-setr-mla.yaml', 'configs/segmentation/vit-small-linear.yaml', 'configs/barlow-twins/resnet50-voc.yaml'])(
    'the shipped %s fits together',
    async (file) => {
      const { loaded, stages } = await loadRunConfig({ configFile: file });
      await expect(checkStages(stages, loaded.dir, loaded.file, [], 'fit')).resolves.toHaveLength(stages.length);
    },
  );
});
