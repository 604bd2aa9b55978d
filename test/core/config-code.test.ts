import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * Which files may run code: a JS/TS config given with -c or found by its discovery name, and
 * plugins. Everything a YAML/JSON config pulls in is data. Each planted script writes a marker
 * file when it runs, so "not executed" is checked directly.
 */
const bin = path.resolve('core/bin/bt-platform.js');
const toyConfig = path.resolve('test/cases/_toy/base.yaml');

function cli(cwd: string, ...args: string[]) {
  const result = spawnSync(process.execPath, [bin, ...args], { cwd, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A CommonJS script (the temp folder has no package.json) that leaves `marker` behind when run. */
function plantScript(file: string, marker: string, exportsText = '{}'): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'ran');\nmodule.exports = ${exportsText};\n`);
}

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'bt-config-code-'));

describe('configs run no code unless they are code', () => {
  test('a YAML config cannot extend a JavaScript file: refused with the file and key named, and the file never runs', () => {
    const dir = tmp();
    const marker = path.join(dir, 'marker');
    plantScript(path.join(dir, 'base.cjs'), marker, '{ seed: 3 }');
    writeFileSync(path.join(dir, 'config.yaml'), `extends: [${JSON.stringify(toyConfig)}, ./base.cjs]\n`);
    const result = cli(dir, 'validate', '-c', 'config.yaml');
    expect(result.stderr).toContain('error[CONFIG_INVALID]');
    expect(result.stderr).toContain(`${path.join(dir, 'config.yaml')}: extends`);
    expect(result.stderr).toContain(path.join(dir, 'base.cjs'));
    expect(result.stderr).toMatch(/\.yaml/);
    expect(result.code).toBe(2);
    expect(existsSync(marker)).toBe(false);
  });

  test('a JSON config extended from YAML cannot extend code either', () => {
    const dir = tmp();
    const marker = path.join(dir, 'marker');
    plantScript(path.join(dir, 'evil.js'), marker);
    writeFileSync(path.join(dir, 'mid.json'), JSON.stringify({ extends: './evil.js' }));
    writeFileSync(path.join(dir, 'config.yaml'), 'extends: ./mid.json\n');
    const result = cli(dir, 'validate', '-c', 'config.yaml');
    expect(result.stderr).toContain(`${path.join(dir, 'mid.json')}: extends`);
    expect(result.code).toBe(2);
    expect(existsSync(marker)).toBe(false);
  });

  test('$import in a YAML config runs nothing and is refused with a pointer to extends', () => {
    const dir = tmp();
    const marker = path.join(dir, 'marker');
    plantScript(path.join(dir, 'x.cjs'), marker, '{ seed: 3 }');
    writeFileSync(path.join(dir, 'config.yaml'), `$import: ./x.cjs\nextends: ${JSON.stringify(toyConfig)}\n`);
    const result = cli(dir, 'validate', '-c', 'config.yaml');
    expect(result.stderr).toContain('$import');
    expect(result.stderr).toContain('extends');
    expect(result.code).toBe(2);
    expect(existsSync(marker)).toBe(false);
  });

  test("cosmiconfig's meta config (.config/config.js) runs neither on --version nor on run", () => {
    const dir = tmp();
    const marker = path.join(dir, 'marker');
    plantScript(path.join(dir, '.config', 'config.js'), marker);
    expect(cli(dir, '--version').stdout).toContain('0.1.0');
    expect(existsSync(marker)).toBe(false);
    const run = cli(dir, 'run', '-q', '-c', toyConfig, '--set', `runDir=${path.join(dir, 'runs')}`);
    expect(run.stdout).toContain('run directory:');
    expect(run.code).toBe(0);
    expect(existsSync(marker)).toBe(false);
  });

  test('a JavaScript config given with -c is loaded (it is code by choice), and a discovered YAML config is found', () => {
    const dir = tmp();
    const marker = path.join(dir, 'marker');
    plantScript(path.join(dir, 'train.config.cjs'), marker, `{ extends: ${JSON.stringify(toyConfig)}, seed: 5 }`);
    const result = cli(dir, 'validate', '-c', 'train.config.cjs');
    expect(result.stdout).toContain('seed: 5');
    expect(result.code).toBe(0);
    expect(existsSync(marker)).toBe(true);

    const found = tmp();
    writeFileSync(path.join(found, 'bt-platform.config.yaml'), `extends: ${JSON.stringify(toyConfig)}\nseed: 6\n`);
    const discovered = cli(found, 'validate');
    expect(discovered.stdout).toContain('seed: 6');
    expect(discovered.stderr).toContain(`config OK: ${path.join(found, 'bt-platform.config.yaml')}`);
  });
});
