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

function stageName(stage: unknown): string | undefined {
  return isPlain(stage) && typeof stage.name === 'string' ? stage.name : undefined;
}

/** The top-level `stages` of a pipeline: its entries are named by `name`, and merge by it. */
function isStageList(at: string[]): boolean {
  return at.length === 1 && at[0] === 'stages';
}

/**
 * A pipeline's stages extended by another config's: a stage with the name of a base stage merges
 * into it (directives included), a new name is added after the base stages. So a config can
 * change one key of one stage without restating the pipeline.
 */
function mergeStages(base: unknown[], override: unknown[], where: string): unknown[] {
  const out = [...base];
  override.forEach((stage, i) => {
    const name = stageName(stage);
    if (name === undefined) {
      throw new ConfigError('CONFIG_INVALID', `${where}: stages.${i}.name: a stage of a config that extends a pipeline needs a name, to edit the base stage of that name (${base.map(stageName).join(', ')}) or to add a stage after them.`);
    }
    const index = out.findIndex((s) => stageName(s) === name);
    if (index < 0) out.push(stage);
    else out[index] = merge(out[index], stage, where, ['stages', name]);
  });
  return out;
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
  const stages = isStageList(at);
  const nameOf = stages ? stageName : entryName;
  let list = [...((base as unknown[] | undefined) ?? [])];
  for (const name of asList(REMOVE)) {
    if (typeof name !== 'string') throw new ConfigError('CONFIG_INVALID', `${place}.$remove: expected names (${stages ? 'a stage\'s `name`' : 'a component\'s `use`'}), got ${JSON.stringify(name)}.`);
    const kept = list.filter((entry) => nameOf(entry) !== name);
    if (kept.length === list.length) {
      const names = list.map(nameOf).filter(Boolean);
      throw new ConfigError('CONFIG_INVALID', `${place}.$remove: no ${stages ? 'stage' : 'entry'} "${name}" in the inherited list (it has: ${names.join(', ') || 'nothing'}).`, {
        hint: `Name ${stages ? 'a stage by its `name`' : 'an entry by its `use`'}; \`npx bt-platform validate\` prints the merged config.`,
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
  if (isStageList(at) && Array.isArray(base) && Array.isArray(override)) return mergeStages(base, override, where);
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
 * an inherited list (`$remove` by `use` name). A pipeline's `stages` merge by stage name. `where`
 * names the file for errors.
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
