import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/**
 * The SDK, the core and the example plugin as npm would pack them: every entry point they export
 * ships, and every package their sources import is declared, so an install outside this workspace
 * (where nothing is hoisted by accident) resolves the same modules.
 */
interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  exports: Record<string, string>;
  bin?: Record<string, string>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

const manifestOf = (dir: string) => JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as Manifest;

function packedFiles(dir: string): string[] {
  const result = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: dir, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`npm pack in ${dir} failed: ${result.stderr}`);
  return (JSON.parse(result.stdout) as Array<{ files: Array<{ path: string }> }>)[0].files.map((f) => f.path);
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const file = path.join(dir, name);
    if (statSync(file).isDirectory()) return sourceFiles(file);
    return /\.(ts|js|mjs)$/.test(name) ? [file] : [];
  });
}

/** Bare package names imported by the files (type-only imports included: declarations need them too). */
function importedPackages(files: string[]): string[] {
  const names = new Set<string>();
  for (const file of files) {
    for (const match of readFileSync(file, 'utf8').matchAll(/(?:from\s+|import\()\s*'([^'.][^']*)'/g)) {
      const spec = match[1];
      if (spec.startsWith('node:')) continue;
      names.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]);
    }
  }
  return [...names].sort();
}

const packages = ['sdk', 'core', 'examples/plugin-tiny-cnn'];

describe.each(packages)('%s as a published package', (dir) => {
  const manifest = manifestOf(dir);
  const files = packedFiles(dir);

  test('is publishable and ships every export and bin target', () => {
    expect(manifest.private).toBeUndefined();
    expect(manifest.version).toMatch(/^\d+\.\d+\.\d+/);
    const targets = [...Object.values(manifest.exports), ...Object.values(manifest.bin ?? {})].map((t) => path.normalize(t));
    expect(targets.filter((t) => !files.includes(t))).toEqual([]);
  });

  test('declares every package its sources import', () => {
    const declared = new Set([manifest.name, ...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.peerDependencies ?? {})]);
    const shipped = sourceFiles(dir).filter((f) => files.includes(path.relative(dir, f)));
    expect(importedPackages(shipped).filter((name) => !declared.has(name))).toEqual([]);
  });
});

describe('one tensor library', () => {
  test('the SDK depends on @tensorflow/tfjs and the core asks for the same range', () => {
    const sdk = manifestOf('sdk');
    const core = manifestOf('core');
    expect(sdk.dependencies?.['@tensorflow/tfjs']).toBeDefined();
    expect(core.dependencies?.['@tensorflow/tfjs']).toBe(sdk.dependencies?.['@tensorflow/tfjs']);
  });

  test('the example plugin needs nothing but the SDK, as a peer (one copy shared with the core)', () => {
    const example = manifestOf('examples/plugin-tiny-cnn');
    expect(Object.keys(example.dependencies ?? {})).toEqual([]);
    expect(Object.keys(example.peerDependencies ?? {})).toEqual(['@bt-platform/sdk']);
    expect(importedPackages(sourceFiles('examples/plugin-tiny-cnn/src'))).toEqual(['@bt-platform/sdk']);
  });
});
