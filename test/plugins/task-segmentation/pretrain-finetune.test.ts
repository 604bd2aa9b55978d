import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run } from '@bt-platform/core';
import { definePlugin, MODEL_PREFIX, readCheckpoint, Stage, tensorsWithPrefix, type RawTensor } from '@bt-platform/sdk';
import { ConfusionMatrix } from '@bt-platform/plugin-task-segmentation';

/**
 * The whole workflow on generated VOC-format data: Barlow Twins pre-training of a tiny ViT, then a
 * segmentation fine-tune initialised from that stage's checkpoint. Learning must be real: the
 * Barlow Twins loss falls and the diagonal rises; the fine-tune beats predicting the majority class.
 */

interface MetricsLine {
  step: number;
  epoch: number;
  values: Record<string, number>;
}

function metricsLines(runDir: string): MetricsLine[] {
  return readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as MetricsLine);
}

/** Probes of the fine-tune: the backbone weights it starts from, and the majority-class baseline. */
function probePlugin(seen: { backboneAtStart?: Record<string, RawTensor>; baseline?: ConfusionMatrix }) {
  return definePlugin({
    name: 'test-probe',
    apply(hooks) {
      const tap = { name: 'test-probe', stage: Stage.runtime };
      hooks.setup.tapPromise(tap, async ({ task }) => {
        const backbone = (task.model as unknown as { backbone?: { stateDict(): Record<string, RawTensor> } }).backbone;
        if (task.model.constructor.name === 'SegmentationModel' && backbone) seen.backboneAtStart = backbone.stateDict();
      });
      hooks.validationStart.tapPromise(tap, async () => {
        seen.baseline = new ConfusionMatrix(21);
      });
      // The majority-class baseline on the same validation pixels: predict background everywhere.
      hooks.validationBatchEnd.tapPromise(tap, async ({ batch }) => {
        if (!batch.mask) return;
        const truth = batch.mask.dataSync();
        seen.baseline!.add(truth, new Int32Array(truth.length));
      });
    },
  });
}

describe('Barlow Twins pre-training → segmentation fine-tune', () => {
  it('learns in both stages and fine-tunes from the pre-trained backbone', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bt-workflow-'));
    const seen: { backboneAtStart?: Record<string, RawTensor>; baseline?: ConfusionMatrix } = {};
    const result = await run({
      cwd: dir,
      quiet: true,
      plugins: [probePlugin(seen)],
      config: {
        name: 'workflow',
        seed: 0,
        runDir: path.join(dir, 'runs'),
        backend: { use: 'auto' },
        data: {
          use: 'voc',
          root: path.join(dir, 'voc'),
          generate: { images: 64, minSize: 48, maxSize: 64 },
          imageSize: 32,
          batchSize: 16,
          workers: 0,
        },
        model: {
          backbone: { use: 'vit', variant: 'custom', imageSize: 32, patchSize: 8, embedDim: 48, depth: 2, heads: 4, mlpRatio: 2 },
        },
        stages: [
          {
            name: 'pretrain',
            // Self-supervised: the validation images may be seen (without labels) too.
            // B ≥ D keeps the cross-correlation estimate well conditioned at this tiny scale.
            data: { mode: 'barlow-twins', trainSplit: 'trainval', batchSize: 32, augment: { cropScale: [0.3, 1] } },
            task: { use: 'barlow-twins', projectorDim: 32, lambda: 3e-2 },
            optimizer: { use: 'adamw', lr: 2e-3 },
            lrSchedule: { use: 'warmup-cosine', warmupEpochs: 1, minLr: 1e-5 },
            trainer: { maxEpochs: 30 },
            callbacks: [{ use: 'checkpoint' }],
          },
          {
            name: 'finetune',
            data: { mode: 'segmentation' },
            model: { head: { use: 'linear', numClasses: 21 } },
            task: { use: 'segmentation', backboneCheckpoint: '${stages.pretrain.checkpoint}' },
            optimizer: { use: 'adamw', lr: 1e-2 },
            lrSchedule: { use: 'warmup-cosine', warmupEpochs: 1, minLr: 1e-5 },
            trainer: { maxEpochs: 40 },
            callbacks: [{ use: 'checkpoint', monitor: 'val/mIoU', mode: 'max' }],
          },
        ],
      } as Record<string, unknown>,
    });
    expect(result.status).toBe('completed');
    const [pretrain, finetune] = result.stages!;

    const epochs = metricsLines(pretrain.runDir).filter((l) => l.values['val/loss'] !== undefined);
    expect(epochs.length).toBe(30);
    const [first, last] = [epochs[0].values, epochs.at(-1)!.values];
    console.log(`pretrain val/loss ${first['val/loss']} → ${last['val/loss']}, val/diag_mean ${first['val/diag_mean']} → ${last['val/diag_mean']}`);
    expect(last['val/loss']).toBeLessThan(first['val/loss'] * 0.9);
    expect(last['val/diag_mean']).toBeGreaterThan(first['val/diag_mean'] + 0.05);

    const checkpoint = await readCheckpoint(String(pretrain.summary.checkpoint));
    const pretrained = tensorsWithPrefix(checkpoint, `${MODEL_PREFIX}backbone.`);
    expect(Object.keys(seen.backboneAtStart ?? {}).sort()).toEqual(Object.keys(pretrained).sort());
    for (const [name, t] of Object.entries(pretrained)) expect(Array.from(seen.backboneAtStart![name].data)).toEqual(Array.from(t.data));

    const baseline = seen.baseline!.metrics().mIoU;
    const mIoU = finetune.metrics['val/mIoU'];
    console.log(`finetune val/mIoU ${mIoU} (majority-class baseline ${baseline}), val/accuracy ${finetune.metrics['val/accuracy']}`);
    expect(mIoU).toBeGreaterThan(2 * baseline);
  }, 300_000);
});
