import { ConfigError } from '../errors.js';
import { Slots } from '../slots.js';
import type { Backbone } from '../components.js';
import type { RunContext } from '../plugin.js';

export interface HeadContext {
  backbone: Backbone;
  /** The backbone's component name in the config, for messages. */
  backboneName: string;
  numClasses: number;
}

/** The backbone this head sits on and its class count (option, else the datamodule's, else VOC's 21). */
export async function resolveHeadContext(ctx: RunContext, numClasses: number | undefined): Promise<HeadContext> {
  const backbone = await ctx.get(Slots.backbone);
  const model = (ctx.config as { model?: { backbone?: { use?: unknown } } }).model;
  const backboneName = typeof model?.backbone?.use === 'string' ? model.backbone.use : backbone.constructor.name;
  if (numClasses === undefined) {
    try {
      numClasses = (await ctx.get(Slots.datamodule)).numClasses;
    } catch {
      // No datamodule configured (e.g. a model-only test): fall back to VOC's class count.
    }
  }
  return { backbone, backboneName, numClasses: numClasses ?? 21 };
}

export function incompatible(head: string, backboneName: string, why: string, hint: string): ConfigError {
  return new ConfigError('CONFIG_INVALID', `model.head "${head}" cannot run on model.backbone "${backboneName}": ${why}.`, { hint });
}
