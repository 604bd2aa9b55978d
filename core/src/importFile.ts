import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

let commonJsHooks: Promise<unknown> | undefined;

/**
 * Whether Node runs `file` as CommonJS: `.cjs`/`.cts`, or `.js`/`.ts` under a package.json that
 * does not say `"type": "module"` (or under none at all).
 */
function isCommonJs(file: string): boolean {
  const ext = path.extname(file);
  if (ext === '.cjs' || ext === '.cts') return true;
  if (ext === '.mjs' || ext === '.mts') return false;
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        return (JSON.parse(readFileSync(manifest, 'utf8')) as { type?: string }).type !== 'module';
      } catch {
        return true;
      }
    }
    if (path.dirname(dir) === dir) return true;
  }
}

/**
 * Imports a user's JavaScript or TypeScript file (a plugin or a config) in whichever module system
 * its folder declares. tsx's ESM hooks alone compile a CommonJS `.ts` file in a way that fails with
 * "Cannot require() ES Module … in a cycle", hiding the file's own error; its CommonJS hooks load it
 * properly. ESM files keep the plain `import()`, so they share the platform's copy of the SDK.
 * A CommonJS module compiled from ESM syntax (`exports.__esModule`) is returned as its exports.
 */
export async function importFile(file: string): Promise<Record<string, unknown>> {
  if (isCommonJs(file)) {
    commonJsHooks ??= import('tsx/cjs/api').then((tsx) => tsx.register());
    await commonJsHooks;
  }
  const namespace = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  const exported = namespace.default as Record<string, unknown> | undefined;
  return exported && typeof exported === 'object' && exported.__esModule === true ? exported : namespace;
}

/** `message (at FILE:LINE:COL)` when the stack shows where in `file` an error was thrown. */
export function describeLoadError(error: unknown, file: string): string {
  const message = error instanceof Error ? error.message : String(error);
  if (message.includes(file) || !(error instanceof Error) || !error.stack) return message;
  const escaped = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const at = error.stack.match(new RegExp(`(?:${escaped(file)}|${escaped(pathToFileURL(file).href)}):(\\d+):(\\d+)`));
  return at ? `${message} (at ${file}:${at[1]}:${at[2]})` : message;
}
