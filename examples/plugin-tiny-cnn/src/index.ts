import { definePlugin, Slots, z } from '@bt-platform/sdk';
import { TinyCnn } from './TinyCnn.js';
import { createCsvMetricsLogger, csvMetricsOptions } from './CsvMetricsLogger.js';

export { TinyCnn, type TinyCnnConfig } from './TinyCnn.js';
export { ConvBnRelu } from './ConvBnRelu.js';
export { CsvMetricsLogger, csvMetricsOptions } from './CsvMetricsLogger.js';

// `.describe()` texts are what `bt-platform plugins` and the config's JSON Schema show for each option.
export const tinyCnnOptions = z.strictObject({
  featureDim: z.number().int().positive().default(64).describe('channels of the feature map and of `pooled`'),
  stride: z.literal([2, 4, 8, 16, 32]).default(8).describe('output stride: input pixels per feature-map cell along one side'),
  width: z.number().int().positive().default(16).describe('channels of the first stage; each next stage doubles them, up to featureDim'),
  freeze: z.boolean().default(false).describe('keep the weights fixed'),
});

/**
 * An example third-party plugin that depends on the SDK alone: a backbone (`tiny-cnn`) and a
 * logger (`csv-metrics`). Select them in a config with `plugins: [bt-platform-plugin-tiny-cnn]`.
 */
export default definePlugin({
  name: 'tiny-cnn',
  version: '0.1.0',
  description: 'Example plugin: a small CNN backbone and a wide-CSV metrics logger.',
  register(registrar) {
    registrar.component(Slots.backbone, {
      name: 'tiny-cnn',
      description: 'A small CNN (3×3 conv, batch norm, ReLU per stride-2 stage) for CPU-sized experiments.',
      options: tinyCnnOptions,
      // Declared so that a config pairing it with a head that needs tokens fails before it runs.
      declares: ({ stride }) => ({ provides: { kind: 'cnn', tokens: false, featureMap: true, intermediates: Math.log2(stride) - 1, stride, batchStatistics: true } }),
      create: ({ freeze, ...config }, ctx) => {
        const model = new TinyCnn(config, ctx.rng);
        return freeze ? model.freeze() : model;
      },
    });
    registrar.component(Slots.logger, {
      name: 'csv-metrics',
      description: 'Writes metrics to <runDir>/metrics.csv: one row per step, one column per metric.',
      options: csvMetricsOptions,
      create: (options, ctx) => createCsvMetricsLogger(options, ctx.runDir),
    });
  },
});
