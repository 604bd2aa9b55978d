import { readdirSync } from 'node:fs';
import path from 'node:path';
import { loadRunConfig } from '@bt-platform/core';
// The core's own resolver: plugin loading and every component's option schema, as `bt-platform validate` does.
import { resolveRun } from '@bt-platform/core';

const CONFIGS = path.resolve('configs');

function configFiles(dir = CONFIGS): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (e.name === '_base') return [];
    const full = path.join(dir, e.name);
    return e.isDirectory() ? configFiles(full) : e.name.endsWith('.yaml') ? [full] : [];
  });
}

async function resolveFile(file: string) {
  const { loaded, stages } = await loadRunConfig({ configFile: file });
  const out = [];
  for (const stage of stages) out.push({ name: stage.name, config: (await resolveRun(stage.raw, loaded.dir, loaded.file, [])).config });
  return out;
}

describe('shipped configs', () => {
  const files = configFiles();

  it('include the reference experiments and the quickstart', () => {
    expect(files.map((f) => path.relative(CONFIGS, f)).sort()).toEqual([
      'barlow-twins/resnet50-voc.yaml',
      'barlow-twins/vit-small-dino-voc.yaml',
      'barlow-twins/vit-small-voc.yaml',
      'quickstart.yaml',
      'segmentation/resnet50-deeplabv3.yaml',
      'segmentation/vit-small-linear.yaml',
      'segmentation/vit-small-setr-mla.yaml',
      'segmentation/vit-small-setr-naive.yaml',
      'segmentation/vit-small-setr-pup.yaml',
    ]);
  });

  it.each(configFiles().map((f) => [path.relative(CONFIGS, f)]))('%s validates against every component schema', async (relative) => {
    const stages = await resolveFile(path.join(CONFIGS, relative));
    for (const { config } of stages) {
      expect(config.task?.use).toMatch(/^(barlow-twins|segmentation)$/);
      expect(config.data?.use).toBe('voc');
      expect(config.optimizer?.use).toBeDefined();
    }
  });

  it('pre-trains ViT-S/16 as the reference did', async () => {
    const [{ config }] = await resolveFile(path.join(CONFIGS, 'barlow-twins/vit-small-voc.yaml'));
    expect(config.model.backbone).toMatchObject({ use: 'vit', variant: 'small/16', imageSize: 224 });
    expect(config.task).toEqual({ use: 'barlow-twins', projectorDim: 512, projectorLayers: 3, lambda: 5e-2, standardize: 'std' });
    expect(config.data).toMatchObject({ mode: 'barlow-twins', root: '../../data/voc' });
    expect(config.optimizer).toMatchObject({ use: 'adamw', lr: 3e-4 });
    expect(config.lrSchedule).toMatchObject({ use: 'warmup-cosine', warmupEpochs: 10, minLr: 5e-6 });
    expect(config.callbacks.map((c) => c.use)).toEqual(['progress', 'checkpoint', 'lr-monitor', 'cross-correlation', 'attention-maps', 'augmented-views', 'erf', 'html-report']);
    expect(config.loggers).toEqual([{ use: 'wandb', project: 'bt-platform' }]);
  });

  it('pre-trains ViT-S/16 from DINO weights with the same recipe', async () => {
    const [{ config: dino }] = await resolveFile(path.join(CONFIGS, 'barlow-twins/vit-small-dino-voc.yaml'));
    const [{ config: scratch }] = await resolveFile(path.join(CONFIGS, 'barlow-twins/vit-small-voc.yaml'));
    expect(dino.model.backbone).toEqual({ ...scratch.model.backbone, weights: 'hf:timm/vit_small_patch16_224.dino' });
    expect(dino.name).toBe('bt-vit-small-dino-voc');
    for (const key of ['task', 'data', 'optimizer', 'lrSchedule', 'trainer', 'callbacks'] as const) expect(dino[key]).toEqual(scratch[key]);
  });

  it('pre-trains ResNet-50 with the paper\'s LARS recipe', async () => {
    const [{ config }] = await resolveFile(path.join(CONFIGS, 'barlow-twins/resnet50-voc.yaml'));
    expect(config.model.backbone).toEqual({ use: 'resnet50', dilated: false });
    expect(config.task).toMatchObject({ use: 'barlow-twins', projectorDim: 8192, lambda: 5e-3 });
    expect(config.optimizer).toMatchObject({ use: 'lars', lr: 0.2, weightDecay: 1.5e-6, groups: [{ biasAndNorm: true, lrScale: 0.024 }] });
  });

  it('fine-tunes each head with checkpoints and early stopping on val/mIoU (arrays replace, objects merge)', async () => {
    for (const [file, backbone, head] of [
      ['segmentation/vit-small-linear.yaml', 'vit', 'linear'],
      ['segmentation/vit-small-setr-naive.yaml', 'vit', 'setr-naive'],
      ['segmentation/vit-small-setr-pup.yaml', 'vit', 'setr-pup'],
      ['segmentation/vit-small-setr-mla.yaml', 'vit', 'setr-mla'],
      ['segmentation/resnet50-deeplabv3.yaml', 'resnet50', 'deeplabv3'],
    ]) {
      const [{ config }] = await resolveFile(path.join(CONFIGS, file));
      expect(config.model.backbone?.use).toBe(backbone);
      expect(config.model.head).toEqual({ use: head, numClasses: 21 });
      expect(config.data).toMatchObject({ mode: 'segmentation' });
      const checkpoints = config.callbacks.filter((c) => c.use === 'checkpoint');
      expect(checkpoints).toEqual([{ use: 'checkpoint', monitor: 'val/mIoU', mode: 'max', topK: 1 }]);
      expect(config.callbacks.find((c) => c.use === 'early-stopping')).toMatchObject({ monitor: 'val/mIoU', mode: 'max' });
    }
  });

  it('quickstart: pre-training on every image, then the same fine-tune and probe on the labelled ones from its checkpoint and from scratch', async () => {
    const { loaded, stages } = await loadRunConfig({ configFile: path.join(CONFIGS, 'quickstart.yaml') });
    expect(stages.map((s) => s.name)).toEqual(['pretrain', 'finetune', 'scratch', 'probe', 'probe-scratch']);
    expect(loaded.raw.data).toMatchObject({ use: 'voc', root: '../.data/quickstart-voc', generate: expect.any(Object) });
    expect(loaded.raw.compare).toEqual([
      { metric: 'val/mIoU', stages: ['finetune', 'scratch'] },
      { metric: 'val/mIoU', stages: ['probe', 'probe-scratch'] },
    ]);
    expect(stages[0].raw.task).toMatchObject({ use: 'barlow-twins' });
    expect(stages[0].raw.data).toMatchObject({ mode: 'barlow-twins', imageSet: 'Main', generate: expect.any(Object) });
    expect(stages[1].raw.task).toMatchObject({ use: 'segmentation', backboneCheckpoint: '${stages.pretrain.checkpoint}' });
    const models = stages.map((s) => s.raw.model as { backbone: unknown; head?: { use: string } });
    expect(models[1].backbone).toEqual(models[0].backbone);
    expect(models[1].head).toMatchObject({ use: 'linear' });
    // Scratch differs from the fine-tune only by starting from a random backbone.
    const { task: finetuneTask, ...finetune } = stages[1].raw;
    const { task: scratchTask, ...scratch } = stages[2].raw;
    expect(scratch).toEqual(finetune);
    expect(scratchTask).toEqual({ use: 'segmentation' });
    expect(finetuneTask).toEqual({ use: 'segmentation', backboneCheckpoint: '${stages.pretrain.checkpoint}' });
    // The probes are the same two with the backbone frozen.
    const { task: probeTask, ...probe } = stages[3].raw;
    const { task: probeScratchTask, ...probeScratch } = stages[4].raw;
    expect([probe, probeScratch]).toEqual([finetune, finetune]);
    expect(probeTask).toEqual({ ...(finetuneTask as object), freezeBackbone: true });
    expect(probeScratchTask).toEqual({ use: 'segmentation', freezeBackbone: true });
  });
});
