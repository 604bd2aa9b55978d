import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, type PluginDefinition } from '@bt-platform/sdk';
import { describeLoadError, importFile } from './importFile.js';

/** Where the built-in plugins live: one folder each, loaded exactly like third-party plugins. */
export const BUILTIN_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../plugins');

export interface LoadedPlugin {
  plugin: PluginDefinition;
  /** How the config named it: a built-in short name, an npm package or a path. */
  spec: string;
  source: 'builtin' | 'npm' | 'path' | 'object';
  options: Record<string, unknown>;
}

/** The file `import` picks from a package's `exports` (its "." entry; conditions node, import, default), if any. */
function exportTarget(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(exportTarget).find((target) => target !== undefined);
  if (!value || typeof value !== 'object') return undefined;
  const map = value as Record<string, unknown>;
  if (Object.keys(map).some((key) => key.startsWith('.'))) return exportTarget(map['.']);
  const condition = Object.keys(map).find((key) => key === 'node' || key === 'import' || key === 'default');
  return condition === undefined ? undefined : exportTarget(map[condition]);
}

/** The entry file of a package folder: `exports`, else `main`, else `src/index.ts`. */
function entryOf(dir: string): string {
  const manifest = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { exports?: unknown; main?: string };
  return path.join(dir, exportTarget(manifest.exports) ?? manifest.main ?? 'src/index.ts');
}

export function builtinNames(): string[] {
  if (!existsSync(BUILTIN_DIR)) return [];
  return readdirSync(BUILTIN_DIR)
    .filter((name) => existsSync(path.join(BUILTIN_DIR, name, 'package.json')) && existsSync(entryOf(path.join(BUILTIN_DIR, name))))
    .sort();
}

function asPlugin(module: Record<string, unknown>, spec: string, where: string): PluginDefinition {
  const candidate = (module.default ?? module.plugin) as PluginDefinition | undefined;
  if (!candidate || typeof candidate !== 'object' || typeof candidate.name !== 'string' || !candidate.name) {
    throw new ConfigError('PLUGIN_INVALID', `${where}: "${spec}" loaded, but exports no plugin (expected a default export made with definePlugin({ name, ... })).`, {
      hint: 'Export the plugin as `export default definePlugin({ name: "my-plugin", register(r) { … } })`.',
    });
  }
  for (const key of ['register', 'apply'] as const) {
    if (candidate[key] !== undefined && typeof candidate[key] !== 'function') {
      throw new ConfigError('PLUGIN_INVALID', `${where}: plugin "${candidate.name}" has a "${key}" that is not a function.`);
    }
  }
  return candidate;
}

async function importFrom(file: string, spec: string, where: string): Promise<PluginDefinition> {
  let module: Record<string, unknown>;
  try {
    module = await importFile(file);
  } catch (error) {
    throw new ConfigError('PLUGIN_LOAD_FAILED', `${where}: plugin "${spec}" failed to load from ${file}: ${describeLoadError(error, file)}`, { cause: error });
  }
  return asPlugin(module, spec, where);
}

/** A plugin given as a folder is a package: its package.json says which file to load. */
function packageFolderEntry(dir: string, where: string): string {
  if (!existsSync(path.join(dir, 'package.json'))) {
    throw new ConfigError('PLUGIN_LOAD_FAILED', `${where}: plugin folder ${dir} is a folder without a package.json, so it is not a package.`, {
      hint: 'Name the plugin file itself (e.g. ./my-plugin/index.ts), or add a package.json with "exports" or "main" pointing at it.',
    });
  }
  const entry = entryOf(dir);
  if (!existsSync(entry)) {
    throw new ConfigError('PLUGIN_LOAD_FAILED', `${where}: plugin package ${dir}: its entry ${entry} (from package.json "exports"/"main") does not exist.`, {
      hint: 'Point "exports" (or "main") in its package.json at the plugin file.',
    });
  }
  return entry;
}

export async function loadBuiltins(): Promise<LoadedPlugin[]> {
  const out: LoadedPlugin[] = [];
  for (const name of builtinNames()) {
    const plugin = await importFrom(entryOf(path.join(BUILTIN_DIR, name)), name, `built-in plugin ${name}`);
    out.push({ plugin, spec: name, source: 'builtin', options: {} });
  }
  return out;
}

/**
 * Loads a plugin the config names: a relative or absolute path (resolved against the config
 * file's directory) to a file or to a package folder, or an npm package resolved from there
 * (then from the platform itself).
 */
export async function loadPlugin(spec: string, configDir: string, where: string): Promise<LoadedPlugin> {
  if (spec.startsWith('.') || path.isAbsolute(spec)) {
    const file = path.resolve(configDir, spec);
    if (!existsSync(file)) {
      throw new ConfigError('PLUGIN_LOAD_FAILED', `${where}: plugin file ${file} does not exist.`, {
        hint: 'Plugin paths are relative to the config file; include the extension (.ts, .js or .mjs).',
      });
    }
    return { plugin: await importFrom(statSync(file).isDirectory() ? packageFolderEntry(file, where) : file, spec, where), spec, source: 'path', options: {} };
  }
  let file: string | undefined;
  for (const base of [path.join(configDir, 'noop.js'), fileURLToPath(import.meta.url)]) {
    try {
      file = createRequire(base).resolve(spec);
      break;
    } catch {
      // try the next base
    }
  }
  if (!file) {
    throw new ConfigError('PLUGIN_LOAD_FAILED', `${where}: plugin "${spec}" is neither a built-in plugin (${builtinNames().join(', ')}) nor an installed npm package.`, {
      hint: `Install it (npm install ${spec}) or, for a local file, write a path starting with "./".`,
    });
  }
  return { plugin: await importFrom(file, spec, where), spec, source: 'npm', options: {} };
}
