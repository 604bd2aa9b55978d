import { ConfigError, type Module } from '@bt-platform/sdk';

/**
 * The modules whose ERF is drawn. Candidates by default are the items of the model's module
 * lists — `blocks.<i>` of a ViT, `layer<k>.<i>` of a ResNet — (paths whose only numeric part is
 * the last); without any, every leaf module. A number picks that many evenly spaced candidates,
 * always the first and the last; patterns pick by name (`*` matches within a dotted part, `**`
 * across parts, `/re/` is a regular expression).
 */
export function selectLayers(model: Module, layers: number | string[]): Array<[string, Module]> {
  const all = model.namedModules().filter(([name]) => name !== '');
  if (Array.isArray(layers)) {
    const chosen: Array<[string, Module]> = [];
    for (const pattern of layers) {
      const re = toRegExp(pattern);
      const hits = all.filter(([name]) => re.test(name));
      if (hits.length === 0) {
        const names = candidates(all).map(([n]) => n);
        throw new ConfigError('CONFIG_INVALID', `erf: no module matches "${pattern}".`, {
          hint: `Name modules like: ${names.slice(0, 20).join(', ')}${names.length > 20 ? ', …' : ''} (\`*\` matches within a dotted part, \`**\` across parts).`,
        });
      }
      for (const hit of hits) if (!chosen.some(([n]) => n === hit[0])) chosen.push(hit);
    }
    return chosen;
  }
  const pool = candidates(all);
  if (layers === 1) return pool.slice(-1);
  const picks = new Set(Array.from({ length: Math.min(layers, pool.length) }, (_, k) => Math.round((k * (pool.length - 1)) / (Math.min(layers, pool.length) - 1))));
  return [...picks].map((i) => pool[i]);
}

function candidates(all: Array<[string, Module]>): Array<[string, Module]> {
  const items = all.filter(([name]) => {
    const numeric = name.split('.').map((part) => /^\d+$/.test(part));
    return numeric[numeric.length - 1] && numeric.filter(Boolean).length === 1;
  });
  if (items.length) return items;
  return all.filter(([, module]) => module.namedModules().length === 1);
}

function toRegExp(pattern: string): RegExp {
  if (pattern.length > 2 && pattern.startsWith('/') && pattern.endsWith('/')) return new RegExp(pattern.slice(1, -1));
  const body = pattern
    .split('**')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^.]*'))
    .join('.*');
  return new RegExp(`^${body}$`);
}
