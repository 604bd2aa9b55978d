import type { ResolvedRun } from '../resolve.js';
import type { RunConfig } from './schema.js';

type Plain = Record<string, unknown>;

function setAt(root: Plain, keys: string[], value: unknown): void {
  let node = root as Plain;
  for (const key of keys.slice(0, -1)) node = node[key] as Plain;
  node[keys.at(-1)!] = value;
}

/**
 * The run's config as it will run: every component's and plugin's options with their defaults
 * filled in (the parsed options of each selection), and the directory relative paths resolve
 * against. Written to the run directory, it reproduces the run by itself, whatever the defaults
 * become in later versions.
 */
export function withComponentDefaults(resolved: ResolvedRun): ResolvedRun {
  const config = structuredClone(resolved.config) as RunConfig & Plain;
  for (const list of resolved.selections.values()) {
    for (const { at, component, options } of list) setAt(config, at.split('.'), { use: component.definition.name, ...structuredClone(options) });
  }
  config.plugins = config.plugins.map((entry) => {
    const spec = typeof entry === 'string' ? entry : entry.use;
    const options = resolved.plugins.find((p) => p.spec === spec)?.options ?? {};
    return Object.keys(options).length ? { use: spec, ...structuredClone(options) } : entry;
  });
  config.configDir = resolved.configDir;
  return { ...resolved, config };
}
