import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * One folder per CLI case under test/cases: a config (and any plugin files) plus case.json
 * with the arguments, the expected exit code and fragments the output must contain, and
 * optionally a setup module that writes generated inputs first.
 */
const root = path.resolve('test/cases');
const bin = path.resolve('core/bin/bt-platform.js');

interface Case {
  args: string[];
  exitCode: number;
  stdout?: string[];
  stderr?: string[];
  /** Where the command runs, relative to the case folder (default: the case folder). */
  cwd?: string;
  /** A module in the case folder whose default export, given the folder, writes the files the case needs (e.g. a checkpoint). */
  setup?: string;
}

function runCli(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd, env: { ...process.env, NODE_OPTIONS: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

const cases = readdirSync(root).filter((name) => !name.startsWith('_') && existsSync(path.join(root, name, 'case.json')));

describe('CLI cases', () => {
  test.concurrent.each(cases)('%s', async (name) => {
    const dir = path.join(root, name);
    const spec = JSON.parse(readFileSync(path.join(dir, 'case.json'), 'utf8')) as Case;
    if (spec.setup) await ((await import(path.join(dir, spec.setup))) as { default: (dir: string) => Promise<void> }).default(dir);
    const args = [...spec.args];
    if (!args.includes('-c') && existsSync(path.join(dir, 'config.yaml'))) args.push('-c', 'config.yaml');
    const result = await runCli(args, path.join(dir, spec.cwd ?? '.'));
    const report = `exit ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;
    for (const fragment of spec.stderr ?? []) expect({ fragment, in: result.stderr.includes(fragment) ? 'found' : report }).toEqual({ fragment, in: 'found' });
    for (const fragment of spec.stdout ?? []) expect({ fragment, in: result.stdout.includes(fragment) ? 'found' : report }).toEqual({ fragment, in: 'found' });
    expect({ code: result.code, report: result.code === spec.exitCode ? '' : report }).toEqual({ code: spec.exitCode, report: '' });
    // Stack traces only with --verbose.
    if (!args.includes('--verbose')) expect(result.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
  });
});
