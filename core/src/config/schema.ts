import { z } from 'zod';

/** A slot selection: `{ use: <name>, ...options }`; the component's own schema checks the options. */
export const componentSchema = z.looseObject({ use: z.string().min(1) });

export const trainerSchema = z.strictObject({
  maxEpochs: z.number().int().positive().default(1),
  /** Optimizer steps after which training stops, whatever the epoch. */
  maxSteps: z.number().int().positive().optional(),
  valEveryNEpochs: z.number().int().positive().default(1),
  accumulateGradBatches: z.number().int().positive().default(1),
  /** One training batch and one validation batch, no checkpoints kept beyond `last`. */
  fastDevRun: z.boolean().default(false),
  limitTrainBatches: z.number().int().positive().optional(),
  limitValBatches: z.number().int().positive().optional(),
  /** What a NaN/Inf loss does: stop the run (naming the step), skip the batch, or carry on. */
  onNonFiniteLoss: z.enum(['stop', 'skip', 'ignore']).default('stop'),
  gradClipNorm: z.number().positive().optional(),
  /** Per-step training metrics go to loggers every N optimizer steps. */
  logEveryNSteps: z.number().int().positive().default(1),
});

export const runConfigSchema = z.strictObject({
  name: z.string().regex(/^[\w.-]+$/, 'use letters, digits, "-", "_" or "."').default('run'),
  seed: z.number().int().nonnegative().default(0),
  /** Parent directory of run directories, relative to the config file. */
  runDir: z.string().default('runs'),
  configDir: z.string().optional().describe('Directory that relative paths (runDir, plugins, data, weights) resolve against; default: the config file\'s. A run\'s config.yaml sets it, so that the run can be repeated from that file.'),
  plugins: z.array(z.union([z.string().min(1), componentSchema])).default([]),
  backend: componentSchema.default({ use: 'auto' }),
  data: componentSchema.optional(),
  model: z.strictObject({ backbone: componentSchema.optional(), head: componentSchema.optional() }).default({}),
  task: componentSchema.optional(),
  optimizer: componentSchema.optional(),
  lrSchedule: componentSchema.optional(),
  trainer: trainerSchema.default({
    maxEpochs: 1,
    valEveryNEpochs: 1,
    accumulateGradBatches: 1,
    fastDevRun: false,
    onNonFiniteLoss: 'stop',
    logEveryNSteps: 1,
  }),
  callbacks: z.array(componentSchema).default([]),
  loggers: z.array(componentSchema).default([]),
  /** Pipelines: after the last stage, one line comparing a metric's final value across stages (also in the pipeline's summary.json). */
  compare: z.strictObject({ metric: z.string().min(1), stages: z.array(z.string().min(1)).min(2) }).optional(),
});

export type RunConfig = z.output<typeof runConfigSchema>;
export type TrainerOptions = z.output<typeof trainerSchema>;
export type ComponentSelection = z.output<typeof componentSchema>;

/** The JSON Schema editors use to autocomplete config files (`bt-platform schema`). */
export function configJsonSchema(): Record<string, unknown> {
  const run = z.toJSONSchema(runConfigSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, any>;
  const properties = { ...run.properties, extends: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] } };
  return {
    ...run,
    properties: {
      ...properties,
      stages: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, ...properties }, required: ['name'] } },
    },
  };
}
