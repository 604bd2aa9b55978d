import { ConfigError, definePlugin, Slots } from '@bt-platform/sdk';
import { loadBackboneCheckpoint } from './loadBackboneCheckpoint.js';
import { SegmentationTask, segmentationOptions } from './SegmentationTask.js';

export { SegmentationTask, segmentationOptions } from './SegmentationTask.js';
export { SegmentationModel } from './SegmentationModel.js';
export { ConfusionMatrix } from './ConfusionMatrix.js';
export { loadBackboneCheckpoint } from './loadBackboneCheckpoint.js';
export { crossEntropyLoss, diceLoss, focalLoss, jaccardLoss, segmentationLosses } from './segmentationLosses.js';

/** The names ConfusionMatrix.metrics returns (`IoU/<class>` per class). */
const EVALUATION_METRICS = ['accuracy', 'mIoU', 'precision', 'recall', 'f1', 'precisionWeighted', 'recallWeighted', 'f1Weighted', 'IoU/*'];

export default definePlugin({
  name: 'task-segmentation',
  description: 'Semantic-segmentation fine-tuning: backbone + head, void-aware losses, confusion-matrix metrics.',
  register(registrar) {
    registrar.component(Slots.task, {
      name: 'segmentation',
      description: 'Backbone + head with cross-entropy/Dice/focal/Jaccard losses; accuracy, IoU, precision, recall and F1.',
      options: segmentationOptions,
      declares: (options) => ({
        batch: ['image', 'mask'],
        logs: options.losses.length > 1 ? options.losses.map((entry) => `loss_${entry.use}`) : [],
        epochMetrics: { train: options.trainMetrics ? ['accuracy', 'mIoU'] : [], val: EVALUATION_METRICS, test: EVALUATION_METRICS },
        outputs: ['logits', 'prediction'],
        uses: ['datamodule', 'backbone', 'head'],
      }),
      async create(options, ctx) {
        const datamodule = await ctx.get(Slots.datamodule);
        const numClasses = options.numClasses ?? datamodule.numClasses;
        if (numClasses === undefined) {
          throw new ConfigError('CONFIG_INVALID', 'task "segmentation" does not know the number of classes: the datamodule does not say and `task.numClasses` is not set.', {
            hint: 'Set `task: { use: segmentation, numClasses: 21 }` (VOC: 21 including background).',
          });
        }
        const backbone = await ctx.get(Slots.backbone);
        if (options.backboneCheckpoint) await loadBackboneCheckpoint(backbone, ctx.resolvePath(options.backboneCheckpoint), ctx.log);
        const head = await ctx.get(Slots.head);
        return new SegmentationTask(backbone, head, options, {
          numClasses,
          ignoreIndex: options.ignoreIndex ?? datamodule.ignoreIndex ?? 255,
          classNames: datamodule.classNames,
        });
      },
    });
  },
});
