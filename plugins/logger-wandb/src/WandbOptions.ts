import { z } from '@bt-platform/sdk';

export const WandbMode = z.enum(['online', 'offline', 'disabled']);
export type WandbMode = z.output<typeof WandbMode>;

/** Options of the `wandb` logger; the network knobs bound how long wandb can ever delay a run. */
export const WandbOptions = z.strictObject({
  project: z.string().min(1).default('bt-platform'),
  /** The wandb team or user; default: the API key's default entity. */
  entity: z.string().min(1).optional(),
  /** Display name of the run; default: the config's `name`, else the run directory's name. */
  name: z.string().min(1).optional(),
  tags: z.array(z.string().min(1)).default([]),
  group: z.string().min(1).optional(),
  notes: z.string().optional(),
  /** Default: `WANDB_MODE` from the environment, else `online`. Online without `WANDB_API_KEY` falls back to offline. */
  mode: WandbMode.optional(),
  /** Send per-step training scalars (`train/*` except `*_epoch`, and `lr`) every N steps; evaluation and epoch metrics always go. */
  logEvery: z.number().int().positive().default(1),
  /** Timeout of one HTTP request (and of creating the run). */
  timeoutMs: z.number().int().positive().default(15000),
  /** Retries of a failed upload request, with exponential backoff. */
  retries: z.number().int().nonnegative().default(3),
  /** At the end of a run (or on Ctrl-C), how long to wait for pending sends before abandoning them. */
  flushTimeoutMs: z.number().int().positive().default(5000),
});
export type WandbOptions = z.output<typeof WandbOptions>;
