import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Plugins named by path in a config, loaded through the CLI (tsx), whatever module system their folder uses. */
const bin = path.resolve('core/bin/bt-platform.js');
const toyConfig = path.resolve('test/cases/_toy/base.yaml');
const helloPlugin = path.resolve('examples/plugin-hello/src/index.ts');

function cli(cwd: string, ...args: string[]) {
  const result = spawnSync(process.execPath, [bin, ...args], { cwd, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr, all: `${result.stdout}\n${result.stderr}` };
}

const inRepo: string[] = [];
afterAll(() => inRepo.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** Outside the repository: no package.json above it, so .ts/.js files are CommonJS; the SDK is linked in. */
function looseDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bt-plugin-'));
  mkdirSync(path.join(dir, 'node_modules', '@bt-platform'), { recursive: true });
  symlinkSync(path.resolve('sdk'), path.join(dir, 'node_modules', '@bt-platform', 'sdk'));
  return dir;
}

/** Inside the repository (the SDK resolves), under a package.json that declares CommonJS. */
function commonJsDir(): string {
  const dir = mkdtempSync(path.join(process.cwd(), 'test', '.tmp-plugin-'));
  inRepo.push(dir);
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'cjs-plugins', type: 'commonjs' }));
  return dir;
}

function configWith(dir: string, ...plugins: string[]): string {
  const file = path.join(dir, 'config.yaml');
  writeFileSync(file, `extends: ${JSON.stringify(toyConfig)}\nplugins: ['@bt-platform/sdk/testing', ${plugins.map((p) => JSON.stringify(p)).join(', ')}]\n`);
  return file;
}

describe('plugin files in either module system', () => {
  test.each([
    ['no package.json', looseDir],
    ['a "type": "commonjs" package.json', commonJsDir],
  ])('a valid .ts plugin loads from a folder with %s', (_label, makeDir) => {
    const dir = makeDir();
    copyFileSync(helloPlugin, path.join(dir, 'hello.ts'));
    const result = cli(dir, 'plugins', '-c', configWith(dir, './hello.ts'));
    expect({ code: result.code, output: result.code === 0 ? '' : result.all }).toEqual({ code: 0, output: '' });
    expect(result.stdout).toContain('hello@0.1.0 (path: ./hello.ts)');
    // Its component is registered in the logger slot the core reads.
    expect(result.stdout).toMatch(/loggers\[\] \(logger\):[\s\S]*csv {2}\[hello\]/);
  });

  test('a plugin that throws while loading shows its own error and file, not a module-system error', () => {
    const dir = commonJsDir();
    writeFileSync(path.join(dir, 'broken.ts'), "import { definePlugin } from '@bt-platform/sdk';\nconst reason: string = 'missing licence file';\nthrow new Error(`broken plugin: ${reason}`);\nexport default definePlugin({ name: 'broken' });\n");
    const result = cli(dir, 'plugins', '-c', configWith(dir, './broken.ts'));
    expect(result.stderr).toContain('error[PLUGIN_LOAD_FAILED]');
    expect(result.stderr).toContain(path.join(dir, 'broken.ts'));
    expect(result.stderr).toContain(`broken plugin: missing licence file (at ${path.join(dir, 'broken.ts')}:3:`);
    expect(result.stderr).not.toMatch(/cycle|require\(\)/);
    expect(result.code).toBe(2);
  });

  test('a plugin with a syntax error names the file, the line and the parser message', () => {
    const dir = looseDir();
    writeFileSync(path.join(dir, 'typo.ts'), "export default {\n  name: 'typo',,\n};\n");
    const result = cli(dir, 'plugins', '-c', configWith(dir, './typo.ts'));
    expect(result.stderr).toContain('error[PLUGIN_LOAD_FAILED]');
    expect(result.stderr).toContain(`${path.join(dir, 'typo.ts')}:2`);
    expect(result.stderr).not.toMatch(/cycle|require\(\)/);
    expect(result.code).toBe(2);
  });
});

describe('a plugin folder with a package.json loads as a package', () => {
  test.each([
    ['exports', { exports: { '.': { import: './lib/entry.ts', default: './lib/entry.ts' } } }],
    ['main', { main: 'lib/entry.ts' }],
  ])('through its %s', (_field, manifest) => {
    const dir = commonJsDir();
    const plugin = path.join(dir, 'my-plugin');
    mkdirSync(path.join(plugin, 'lib'), { recursive: true });
    writeFileSync(path.join(plugin, 'package.json'), JSON.stringify({ name: 'my-plugin', version: '1.2.3', type: 'module', ...manifest }));
    copyFileSync(helloPlugin, path.join(plugin, 'lib', 'entry.ts'));
    const configDir = path.join(dir, 'configs');
    mkdirSync(configDir);
    const result = cli(dir, 'plugins', '-c', configWith(configDir, '../my-plugin'));
    expect({ code: result.code, output: result.code === 0 ? '' : result.all }).toEqual({ code: 0, output: '' });
    expect(result.stdout).toContain('hello@0.1.0 (path: ../my-plugin)');
  });

  test('a folder without package.json is refused, naming the folder and the fix', () => {
    const dir = commonJsDir();
    mkdirSync(path.join(dir, 'not-a-package'));
    const result = cli(dir, 'plugins', '-c', configWith(dir, './not-a-package'));
    expect(result.stderr).toContain('error[PLUGIN_LOAD_FAILED]');
    expect(result.stderr).toContain(`${path.join(dir, 'not-a-package')} is a folder without a package.json`);
    expect(result.code).toBe(2);
  });
});
