import { z } from 'zod';

/** A slot selection: `{ use: <name>, ...options }`; the component's own schema checks the options. */
export const componentSchema = z.looseObject({ use: z.string().min(1) });

export const trainerSchema = z.strictObject({
  maxEpochs: z.number().int().positive().default(1).describe('Epochs to train.'),
  maxSteps: z.number().int().positive().optional().describe('Optimizer steps after which training stops, whatever the epoch.'),
  valEveryNEpochs: z.number().int().positive().default(1).describe('Validate after every N-th epoch (and after the last).'),
  accumulateGradBatches: z.number().int().positive().default(1).describe('Batches whose gradients are summed into one optimizer step (their mean). On wasm and native the running sum waits in host memory, outside the 4 GB heap.'),
  fastDevRun: z.boolean().default(false).describe('One training batch and one validation batch, no checkpoints kept beyond `last`.'),
  limitTrainBatches: z.number().int().positive().optional().describe('Training batches per epoch at most.'),
  limitValBatches: z.number().int().positive().optional().describe('Validation batches per validation at most.'),
  onNonFiniteLoss: z.enum(['stop', 'skip', 'ignore']).default('stop').describe('What a NaN/Inf loss does: stop the run (naming the step), skip the batch, or carry on.'),
  gradClipNorm: z.number().positive().optional().describe('Clip the gradients to this global L2 norm.'),
  logEveryNSteps: z.number().int().positive().default(1).describe('Per-step training metrics go to loggers every N optimizer steps.'),
});

const slot = (what: string) => componentSchema.describe(`${what}: { use: <name>, ...its options }.`);

/** One `compare` entry: a metric, and the stages whose final values of it are shown side by side. */
const comparisonSchema = z.strictObject({ metric: z.string().min(1), stages: z.array(z.string().min(1)).min(2) });

export const runConfigSchema = z.strictObject({
  name: z.string().regex(/^[\w.-]+$/, 'use letters, digits, "-", "_" or "."').default('run').describe('Run name: run directories are <runDir>/<name>-<timestamp>.'),
  seed: z.number().int().nonnegative().default(0).describe('Seed of every random choice (initialisation, shuffling, augmentation).'),
  runDir: z.string().default('runs').describe('Parent directory of run directories, relative to the config file.'),
  configDir: z.string().optional().describe('Directory that relative paths (runDir, plugins, data, weights) resolve against; default: the config file\'s. A run\'s config.yaml sets it, so that the run can be repeated from that file.'),
  plugins: z.array(z.union([z.string().min(1), componentSchema])).default([]).describe('Third-party plugins: npm packages or paths, with options as { use: <plugin>, ...options }.'),
  backend: slot('Compute backend').default({ use: 'auto' }),
  data: slot('Datamodule').optional(),
  model: z.strictObject({ backbone: slot('Backbone').optional(), head: slot('Segmentation head').optional() }).default({}).describe('The model: a backbone and, for segmentation, a head.'),
  task: slot('Task (what is trained and how it is scored)').optional(),
  optimizer: slot('Optimizer').optional(),
  lrSchedule: slot('Learning-rate schedule').optional(),
  trainer: trainerSchema
    .default({
      maxEpochs: 1,
      valEveryNEpochs: 1,
      accumulateGradBatches: 1,
      fastDevRun: false,
      onNonFiniteLoss: 'stop',
      logEveryNSteps: 1,
    })
    .describe('The training loop.'),
  callbacks: z.array(componentSchema).default([]).describe('Callbacks: progress, checkpoints, early stopping, visualisations …'),
  loggers: z.array(componentSchema).default([]).describe('Loggers that receive metrics and images.'),
  compare: z
    .union([comparisonSchema, z.array(comparisonSchema).min(1)])
    .optional()
    .describe("Pipelines: after the last stage, one line per comparison of a metric's final value across stages (also in the pipeline's summary.json)."),
});

export type RunConfig = z.output<typeof runConfigSchema>;
export type TrainerOptions = z.output<typeof trainerSchema>;
export type ComponentSelection = z.output<typeof componentSchema>;
