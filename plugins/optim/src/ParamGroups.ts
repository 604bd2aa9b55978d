import type * as tf from '@tensorflow/tfjs';
import { z } from '@bt-platform/sdk';

/** Options every optimizer shares for per-parameter settings. */
export const paramGroupOptions = {
  weightDecay: z.number().nonnegative(),
  /**
   * Parameters of rank ≤ 1 (biases, LayerNorm/BatchNorm scales and shifts) get no weight decay
   * (and, for LARS, no trust-ratio adaptation), as in the Barlow Twins reference and timm.
   */
  excludeBiasAndNorm: z.boolean().default(true),
  /** Glob patterns (`*` matches anything, dots included) over parameter names, e.g. `pos_embed`, `*.norm*`; matched against the full name or any dotted suffix. Matching parameters get no weight decay. */
  noDecay: z.array(z.string()).default([]),
  /** Per-group overrides; the first group whose patterns match a parameter applies. */
  groups: z
    .array(
      z.strictObject({
        /** Glob patterns of the parameters in this group. */
        params: z.array(z.string()).default([]),
        /** Also every parameter of rank ≤ 1 (biases and norms, whatever their names). */
        biasAndNorm: z.boolean().default(false),
        /** Multiplies the scheduled learning rate for these parameters. */
        lrScale: z.number().nonnegative().default(1),
        weightDecay: z.number().nonnegative().optional(),
      }).refine((g) => g.params.length > 0 || g.biasAndNorm, 'a group needs `params` patterns or `biasAndNorm: true`'),
    )
    .default([]),
};

export interface ParamGroupConfig {
  weightDecay: number;
  excludeBiasAndNorm: boolean;
  noDecay: string[];
  groups: Array<{ params: string[]; biasAndNorm?: boolean; lrScale: number; weightDecay?: number }>;
}

/** What one parameter gets: its weight decay, its LR multiplier, and whether it is a bias/norm-like parameter. */
export interface ParamSettings {
  weightDecay: number;
  lrScale: number;
  /** Excluded from weight decay by rank or `noDecay` (LARS also skips adaptation for these). */
  excluded: boolean;
}

function globToRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${escaped}$`);
}

/** True when `pattern` matches `name` or one of its dotted suffixes (`bias` matches `head.fc.bias`). */
export function matchesParam(pattern: string, name: string): boolean {
  const re = globToRegExp(pattern);
  const parts = name.split('.');
  for (let i = 0; i < parts.length; i++) if (re.test(parts.slice(i).join('.'))) return true;
  return false;
}

/** Whether one of the group's `params` patterns matches the parameter's name. */
function namesParam(group: { params: string[] }, name: string): boolean {
  return group.params.some((pattern) => matchesParam(pattern, name));
}

/** Decides each parameter's settings once, by name and rank, and caches them. */
export class ParamGroups {
  private readonly cache = new Map<string, ParamSettings>();

  constructor(private readonly config: ParamGroupConfig) {}

  /** Each `optimizer.groups` entry with name patterns of which none matches any of `names`, with its index. */
  unmatched(names: string[]): Array<{ index: number; params: string[] }> {
    return this.config.groups.flatMap((group, index) =>
      group.params.length > 0 && !group.biasAndNorm && !names.some((name) => namesParam(group, name)) ? [{ index, params: group.params }] : [],
    );
  }

  settings(name: string, variable: tf.Variable): ParamSettings {
    let found = this.cache.get(name);
    if (!found) {
      const group = this.config.groups.find((g) => (g.biasAndNorm && variable.rank <= 1) || namesParam(g, name));
      const excluded =
        (this.config.excludeBiasAndNorm && variable.rank <= 1) || this.config.noDecay.some((p) => matchesParam(p, name));
      const weightDecay = excluded ? 0 : (group?.weightDecay ?? this.config.weightDecay);
      found = { weightDecay, lrScale: group?.lrScale ?? 1, excluded };
      this.cache.set(name, found);
    }
    return found;
  }
}
