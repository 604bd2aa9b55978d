import path from 'node:path';
import { existsSync, statSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '@bt-platform/sdk';
import { directoryError, discoverConfigFile, DISCOVERY_NAMES, isCodeFile, readConfigFile } from './configFile.js';
import { isPlain, mergeConfig, mergeInto } from './mergeConfig.js';

type Plain = Record<string, unknown>;

export interface LoadedConfig {
  /** Absolute path of the config file, or undefined for an in-memory config. */
  file?: string;
  /** Directory relative paths in the config resolve against. */
  dir: string;
  /** The merged config; a pipeline holds `stages`. */
  raw: Plain;
}

/**
 * Loads a config file and what it extends. Only the first file of `chain` (the one given with -c
 * or discovered) may be JavaScript/TypeScript: `resolveExtends` refuses code before loading it.
 */
async function loadFile(file: string, chain: string[]): Promise<Plain> {
  if (chain.includes(file)) throw new ConfigError('CONFIG_INVALID', `Config files extend each other in a cycle: ${[...chain, file].join(' → ')}.`);
  const from = chain.at(-1);
  if (!existsSync(file)) {
    throw new ConfigError('CONFIG_NOT_FOUND', `Config file ${file} does not exist${from ? ` (extended by ${from})` : ''}.`, {
      hint: from ? 'Paths in `extends` are relative to the file that contains them.' : 'Check the path given with -c.',
    });
  }
  if (statSync(file).isDirectory()) throw directoryError(file, from);
  return resolveExtends(await readConfigFile(file), path.dirname(file), [...chain, file]);
}

/**
 * Loads every file named in `extends` (relative to `dir`) and merges them in order. `key` is where
 * `extends` sits (`stages.1.extends` in a pipeline), for messages. Returns the merged bases and the
 * config's own keys, still to be merged over them.
 */
async function loadBases(config: Plain, dir: string, chain: string[], key = 'extends'): Promise<{ bases: unknown; own: Plain }> {
  const where = chain.at(-1) ?? 'config';
  if ('$import' in config) {
    throw new ConfigError('CONFIG_INVALID', `${where}: $import: not supported; a config pulls in other files only through \`extends\`, and never runs code from YAML or JSON.`, {
      hint: 'Replace `$import: <file>` by `extends: <file>` with a .yaml, .yml or .json file (objects merge deeply, the file\'s own keys win).',
    });
  }
  const { extends: parents, ...own } = config;
  if (parents === undefined) return { bases: undefined, own };
  const list = Array.isArray(parents) ? parents : [parents];
  let bases: unknown = {};
  for (const parent of list) {
    if (typeof parent !== 'string') throw new ConfigError('CONFIG_INVALID', `${where}: ${key}: expected a file path, got ${JSON.stringify(parent)}.`);
    const file = path.resolve(dir, parent);
    if (isCodeFile(file)) {
      throw new ConfigError('CONFIG_INVALID', `${where}: ${key}: ${file} is JavaScript/TypeScript; \`extends\` loads only data files (.yaml, .yml, .json), so that extending a config never runs code.`, {
        hint: 'Write that base config as YAML or JSON; or, if it must be code, make the top-level config a .ts/.js file that imports it, and pass that config with -c.',
      });
    }
    bases = mergeConfig(bases, await loadFile(file, chain), file);
  }
  return { bases, own };
}

/** A config merged over what it extends; its directives (`$replace`, `$append`, `null` …) apply to those bases. */
async function resolveExtends(config: Plain, dir: string, chain: string[]): Promise<Plain> {
  const { bases, own } = await loadBases(config, dir, chain);
  return (mergeConfig(bases, own, chain.at(-1)) ?? {}) as Plain;
}

/**
 * Finds the config: \`-c FILE\`, or else the first of DISCOVERY_NAMES in \`cwd\` or the nearest
 * parent directory that has one, up to the repository root, home directory or file-system root
 * (\`discoverConfigFile\`). Nothing else is looked for: no meta config, no per-user or global files.
 */
export async function loadConfigFile(cwd: string, file?: string): Promise<LoadedConfig> {
  const discovered = file ? undefined : discoverConfigFile(cwd);
  const found = file ? path.resolve(cwd, file) : discovered!.file;
  if (!found) {
    const searched = discovered!.searched;
    const where = searched.length > 1 ? `${searched[0]} or its parents up to ${searched.at(-1)}` : searched[0];
    throw new ConfigError('CONFIG_NOT_FOUND', `No bt-platform config found in ${where}.`, {
      hint: `Pass one with -c FILE (e.g. -c configs/quickstart.yaml), or create bt-platform.config.yaml in ${cwd} or a parent; the search stops at the repository root (the folder with .git), the home directory or /. All ${DISCOVERY_NAMES.length} names looked for are in the README, "Configs".`,
    });
  }
  const raw = await loadFile(found, []);
  return { file: found, dir: configDirOf(raw, path.dirname(found)), raw };
}

export async function loadConfigObject(config: Plain, dir: string): Promise<LoadedConfig> {
  const raw = await resolveExtends(structuredClone(config), dir, []);
  return { dir: configDirOf(raw, dir), raw };
}

/** `configDir` (relative to the config file) moves the base of relative paths, e.g. in a run's saved config.yaml. */
function configDirOf(raw: Plain, fileDir: string): string {
  return typeof raw.configDir === 'string' ? path.resolve(fileDir, raw.configDir) : fileDir;
}

/**
 * Applies `--set a.b.c=value` overrides; values are parsed as YAML (`3`, `true`, `[1,2]`, `{use: x}`)
 * and merged like a config file over its base: `{use: other}` replaces the slot, `null` removes
 * the key, `{$append: [...]}` edits a list.
 */
export function applyOverrides(config: Plain, overrides: string[]): Plain {
  const out = structuredClone(config);
  for (const override of overrides) {
    const eq = override.indexOf('=');
    if (eq <= 0) throw new ConfigError('CONFIG_INVALID', `--set ${override}: expected KEY=VALUE, e.g. --set trainer.maxEpochs=3.`);
    const keys = override.slice(0, eq).split('.');
    let value: unknown;
    try {
      value = parseYaml(override.slice(eq + 1));
    } catch {
      value = override.slice(eq + 1);
    }
    let node: Plain | unknown[] = out;
    keys.slice(0, -1).forEach((key, i) => {
      const container = node as Plain;
      if (container[key] === undefined || container[key] === null) container[key] = /^\d+$/.test(keys[i + 1]) ? [] : {};
      const next = container[key];
      if (typeof next !== 'object') throw new ConfigError('CONFIG_INVALID', `--set ${override}: ${keys.slice(0, i + 1).join('.')} is ${JSON.stringify(next)}, not an object.`);
      node = next as Plain;
    });
    mergeInto(node, keys.at(-1)!, value, `--set ${override}`, keys);
  }
  return out;
}

export interface StageConfig {
  name?: string;
  raw: Plain;
}

/**
 * A config either describes one run, or a pipeline: `stages: [{ name, ...config }]` run in order,
 * each stage merged over the top-level keys (and its own `extends`, relative to the config file).
 */
export async function splitStages(loaded: LoadedConfig): Promise<StageConfig[]> {
  const { stages, ...shared } = loaded.raw;
  if (stages === undefined) return [{ raw: shared }];
  if (!Array.isArray(stages) || stages.length === 0) {
    throw new ConfigError('CONFIG_INVALID', `${loaded.file ?? 'config'}: stages: expected a non-empty list of stage configs, got ${JSON.stringify(stages)}.`);
  }
  const seen = new Set<string>();
  const out: StageConfig[] = [];
  for (const [i, stage] of stages.entries()) {
    if (!isPlain(stage) || typeof stage.name !== 'string' || !/^[\w.-]+$/.test(stage.name)) {
      throw new ConfigError('CONFIG_INVALID', `${loaded.file ?? 'config'}: stages.${i}.name: every stage needs a name of letters, digits, "-", "_" or ".".`);
    }
    if (seen.has(stage.name)) throw new ConfigError('CONFIG_INVALID', `${loaded.file ?? 'config'}: stages.${i}.name: "${stage.name}" is used by two stages.`);
    seen.add(stage.name);
    const { name, ...body } = stage;
    // The stage's bases go over the shared keys, then the stage itself, so that its directives
    // (\`$remove\` of a shared callback, \`null\`, another \`use\`) apply to what it inherits.
    const chain = loaded.file ? [loaded.file] : [];
    const { bases, own } = await loadBases(body, loaded.dir, chain, `stages.${i}.extends`);
    const where = `${loaded.file ?? 'config'}: stages.${i}`;
    out.push({ name, raw: (mergeConfig(mergeConfig(shared, bases, where), own, where) ?? {}) as Plain });
  }
  return out;
}

const DROPPED = Symbol('dropped');

/**
 * Replaces `${stages.<name>.<key>}` in strings with values from finished stages' summaries.
 * With `drop`, a key whose value refers to a stage that has not run is removed instead (used when
 * one stage is opened alone, e.g. to predict from a checkpoint, where such inputs do not matter).
 */
export function substituteStageRefs(value: unknown, summaries: Map<string, Record<string, unknown>>, where: string, dropped?: string[]): unknown {
  const out = substitute(value, summaries, where, dropped, []);
  return out === DROPPED ? undefined : out;
}

function substitute(value: unknown, summaries: Map<string, Record<string, unknown>>, where: string, dropped: string[] | undefined, at: string[]): unknown {
  const drop = dropped !== undefined;
  if (typeof value === 'string') {
    let unresolved = false;
    const text = value.replace(/\$\{stages\.([\w.-]+?)\.([\w-]+)\}/g, (match, stage: string, key: string) => {
      const summary = summaries.get(stage);
      if (!summary && drop) {
        unresolved = true;
        return match;
      }
      if (!summary) throw new ConfigError('CONFIG_INVALID', `${where}: ${match} refers to stage "${stage}", which has not run before this stage.`);
      if (summary[key] === undefined) {
        throw new ConfigError('CONFIG_INVALID', `${where}: ${match}: stage "${stage}" has no "${key}" in its summary (it has: ${Object.keys(summary).join(', ')}).`, {
          hint: key === 'checkpoint' ? 'Add the checkpoint callback to that stage: callbacks: [{ use: checkpoint }].' : undefined,
        });
      }
      return String(summary[key]);
    });
    if (!unresolved) return text;
    dropped!.push(`${at.join('.')}: ${value}`);
    return DROPPED;
  }
  if (Array.isArray(value)) return value.map((v, i) => substitute(v, summaries, where, dropped, [...at, String(i)])).filter((v) => v !== DROPPED);
  if (isPlain(value)) {
    const entries = Object.entries(value).map(([k, v]) => [k, substitute(v, summaries, where, dropped, [...at, k])] as const);
    return Object.fromEntries(entries.filter(([, v]) => v !== DROPPED));
  }
  return value;
}
