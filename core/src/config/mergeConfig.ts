import { ConfigError } from '@bt-platform/sdk';

type Plain = Record<string, unknown>;

/** Directives a config may use where it overrides a base (`extends`, a pipeline's shared keys, `--set`). */
export const REPLACE = '$replace';
export const APPEND = '$append';
export const PREPEND = '$prepend';
export const REMOVE = '$remove';
const LIST_DIRECTIVES = [APPEND, PREPEND, REMOVE];

export function isPlain(value: unknown): value is Plain {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** A list entry's name for `$remove`: a component's `use`, or the entry itself when it is a string (`plugins`). */
function entryName(entry: unknown): string | undefined {
  if (typeof entry === 'string') return entry;
  return isPlain(entry) && typeof entry.use === 'string' ? entry.use : undefined;
}

function listDirective(base: unknown, override: Plain, where: string, at: string[]): unknown[] {
  const place = `${where}: ${at.join('.') || '(root)'}`;
  const extra = Object.keys(override).filter((k) => !LIST_DIRECTIVES.includes(k));
  if (extra.length) {
    throw new ConfigError('CONFIG_INVALID', `${place}: ${extra.join(', ')} cannot stand next to ${LIST_DIRECTIVES.filter((k) => k in override).join(', ')}, which edit the inherited list.`, {
      hint: 'Use only $append, $prepend and $remove here, or write the whole list.',
    });
  }
  if (base !== undefined && !Array.isArray(base)) {
    throw new ConfigError('CONFIG_INVALID', `${place}: $append/$prepend/$remove edit a list, but the value it overrides is ${JSON.stringify(base)}.`, {
      hint: 'Write the value itself instead.',
    });
  }
  const asList = (key: string): unknown[] => {
    const value = override[key];
    if (value === undefined || value === null) return [];
    return Array.isArray(value) ? value : [value];
  };
  let list = [...((base as unknown[] | undefined) ?? [])];
  for (const name of asList(REMOVE)) {
    if (typeof name !== 'string') throw new ConfigError('CONFIG_INVALID', `${place}.$remove: expected names (a component's \`use\`), got ${JSON.stringify(name)}.`);
    const kept = list.filter((entry) => entryName(entry) !== name);
    if (kept.length === list.length) {
      const names = list.map(entryName).filter(Boolean);
      throw new ConfigError('CONFIG_INVALID', `${place}.$remove: no entry "${name}" in the inherited list (it has: ${names.join(', ') || 'nothing'}).`, {
        hint: 'Name an entry by its `use`; `npx bt-platform validate` prints the merged config.',
      });
    }
    list = kept;
  }
  return [...asList(PREPEND), ...list, ...asList(APPEND)];
}

/** Marks a key that `null` removes. */
const REMOVED = Symbol('removed');

function merge(base: unknown, override: unknown, where: string, at: string[]): unknown {
  if (override === undefined) return base;
  if (override === null) return REMOVED;
  if (!isPlain(override)) return override;
  if (LIST_DIRECTIVES.some((k) => k in override)) return listDirective(base, override, where, at);
  const { [REPLACE]: replace, ...rest } = override;
  if (replace !== undefined && typeof replace !== 'boolean') {
    throw new ConfigError('CONFIG_INVALID', `${where}: ${[...at, REPLACE].join('.')}: expected true or false, got ${JSON.stringify(replace)}.`);
  }
  // A slot whose `use` changes is another component: the base's options belong to the old one.
  const otherComponent = isPlain(base) && typeof base.use === 'string' && typeof rest.use === 'string' && base.use !== rest.use;
  const from = isPlain(base) && !replace && !otherComponent ? base : {};
  const out: Plain = { ...from };
  for (const [key, value] of Object.entries(rest)) {
    const merged = merge(from[key], value, where, [...at, key]);
    if (merged === REMOVED) delete out[key];
    else out[key] = merged;
  }
  return out;
}

/**
 * Merges `override` over `base`: objects key by key, anything else (lists included) replaces. An
 * object whose `use` differs from the base's replaces it (another component takes other options),
 * as does one with `$replace: true`; `null` removes a key; `{ $append, $prepend, $remove }` edits
 * an inherited list (`$remove` by `use` name). `where` names the file for errors.
 */
export function mergeConfig(base: unknown, override: unknown, where = 'config'): unknown {
  const merged = merge(base, override, where, []);
  return merged === REMOVED ? undefined : merged;
}

/**
 * Sets `value` at `key` of `container` as an override (merged like a file over its base);
 * `null` removes the key, or the list entry.
 */
export function mergeInto(container: Plain | unknown[], key: string, value: unknown, where: string, at: string[]): void {
  const merged = merge((container as Plain)[key], value, where, at);
  if (merged !== REMOVED) (container as Plain)[key] = merged;
  else if (Array.isArray(container)) container.splice(Number(key), 1);
  else delete container[key];
}
