import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '@bt-platform/sdk';
import { describeLoadError, importFile } from '../importFile.js';

type Plain = Record<string, unknown>;

/** The key a config lives under in package.json. */
export const PACKAGE_KEY = 'bt-platform';

const DATA_EXTENSIONS = ['.yaml', '.yml', '.json'];
const CODE_EXTENSIONS = ['.ts', '.js', '.mjs', '.cjs', '.mts', '.cts'];

/**
 * The names a config is found by, without -c (see `discoverConfigFile`); in each directory the
 * first that exists wins. `package.json` counts only when it has a "bt-platform" key;
 * `.bt-platformrc` is YAML or JSON.
 */
export const DISCOVERY_NAMES = [
  'package.json',
  '.bt-platformrc',
  '.bt-platformrc.yaml',
  '.bt-platformrc.yml',
  '.bt-platformrc.json',
  'bt-platform.config.yaml',
  'bt-platform.config.yml',
  'bt-platform.config.json',
  '.bt-platformrc.ts',
  '.bt-platformrc.js',
  '.bt-platformrc.mjs',
  '.bt-platformrc.cjs',
  'bt-platform.config.ts',
  'bt-platform.config.js',
  'bt-platform.config.mjs',
  'bt-platform.config.cjs',
];

/** A JavaScript or TypeScript file: loading it runs it. */
export function isCodeFile(file: string): boolean {
  return CODE_EXTENSIONS.includes(path.extname(file));
}

function isPlain(value: unknown): value is Plain {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function hasPackageKey(file: string): boolean {
  try {
    return isPlain((JSON.parse(readFileSync(file, 'utf8')) as Plain)[PACKAGE_KEY]);
  } catch {
    return false;
  }
}

/** The first discovery name present in `dir`, or undefined. */
export function findConfigFile(dir: string): string | undefined {
  for (const name of DISCOVERY_NAMES) {
    const file = path.join(dir, name);
    if (!existsSync(file) || !statSync(file).isFile()) continue;
    if (name === 'package.json' && !hasPackageKey(file)) continue;
    return file;
  }
  return undefined;
}

/**
 * The config found without -c: the first discovery name in `cwd`, else in its parent, and so on up
 * to and including the nearest directory that holds `.git` (the repository's root) or is the home
 * directory, or else the file-system root. Also returns the directories searched, for messages.
 */
export function discoverConfigFile(cwd: string, home = os.homedir()): { file?: string; searched: string[] } {
  const searched: string[] = [];
  let dir = path.resolve(cwd);
  for (;;) {
    searched.push(dir);
    const file = findConfigFile(dir);
    if (file) return { file, searched };
    const parent = path.dirname(dir);
    if (existsSync(path.join(dir, '.git')) || dir === home || parent === dir) return { searched };
    dir = parent;
  }
}

/** Why a directory given as a config is not one, with the config files in it to pick from. */
export function directoryError(dir: string, extendedBy?: string): ConfigError {
  const found = findConfigFile(dir);
  const candidates = readdirSync(dir)
    .filter((name) => [...DATA_EXTENSIONS, ...CODE_EXTENSIONS].includes(path.extname(name)) && !/^(package(-lock)?|tsconfig.*)\.json$/.test(name))
    .sort((a, b) => Number(isCodeFile(a)) - Number(isCodeFile(b)) || a.localeCompare(b));
  const names = [...new Set([...(found ? [path.basename(found)] : []), ...candidates])];
  const shown = names.slice(0, 6).map((name) => path.join(dir, name));
  return new ConfigError('CONFIG_NOT_FOUND', `Config path ${dir} is a directory, not a config file${extendedBy ? ` (extended by ${extendedBy})` : ''}.`, {
    hint: shown.length
      ? `Name one of the config files in it: ${shown.join(', ')}${names.length > shown.length ? ', …' : ''}.`
      : `It holds no config file: pass a .yaml, .yml, .json, .ts or .js config, or create ${path.join(dir, 'bt-platform.config.yaml')} and run from ${dir} without -c.`,
  });
}

/**
 * Reads one config file into an object. YAML and JSON are parsed as data (the `yaml` package: no
 * tags, no imports); a JavaScript/TypeScript config is imported, which runs it, and must export the
 * config as its default. Callers decide whether a file may be code (see `isCodeFile`).
 */
export async function readConfigFile(file: string): Promise<Plain> {
  let content: unknown;
  if (isCodeFile(file)) {
    let module: Plain;
    try {
      module = await importFile(file);
    } catch (error) {
      throw new ConfigError('CONFIG_INVALID', `Config file ${file} failed to load: ${describeLoadError(error, file)}`, { cause: error });
    }
    content = module.default;
    if (content === undefined) {
      throw new ConfigError('CONFIG_INVALID', `Config file ${file} has no default export.`, {
        hint: 'Export the config as the default: `export default defineConfig({ … })` (or `module.exports = { … }`).',
      });
    }
  } else {
    if (!DATA_EXTENSIONS.includes(path.extname(file)) && path.basename(file) !== '.bt-platformrc') {
      throw new ConfigError('CONFIG_INVALID', `Config file ${file}: unknown format "${path.extname(file) || '(no extension)'}".`, {
        hint: `Write the config as .yaml, .yml or .json (data), or as ${CODE_EXTENSIONS.join(', ')} (code).`,
      });
    }
    try {
      const text = readFileSync(file, 'utf8');
      content = path.extname(file) === '.json' ? JSON.parse(text) : parseYaml(text);
    } catch (error) {
      throw new ConfigError('CONFIG_INVALID', `Cannot parse config file ${file}: ${(error as Error).message}`, { cause: error });
    }
    if (path.basename(file) === 'package.json') {
      content = (content as Plain | null)?.[PACKAGE_KEY];
      if (content === undefined) throw new ConfigError('CONFIG_INVALID', `${file} has no "${PACKAGE_KEY}" key holding a config.`);
    }
  }
  content ??= {};
  if (!isPlain(content)) throw new ConfigError('CONFIG_INVALID', `Config file ${file} must contain an object (mapping), got ${Array.isArray(content) ? 'a list' : typeof content}.`);
  return content;
}
