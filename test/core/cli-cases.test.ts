import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { runCli } from '../runCli.js';

/**
 * One folder per CLI case under test/cases: a config (and any plugin files) plus case.json
 * with the arguments, the expected exit code and fragments the output must contain, and
 * optionally a setup module that writes generated inputs first.
 */
const root = path.resolve('test/cases');

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


const cases = readdirSync(root).filter((name) => !name.startsWith('_') && existsSync(path.join(root, name, 'case.json')));

describe('CLI cases', () => {
  test.concurrent.each(cases)('%s', async (name) => {
    const dir = path.join(root, name);
    const spec = JSON.parse(readFileSync(path.join(dir, 'case.json'), 'utf8')) as Case;
    if (spec.setup) await ((await import(path.join(dir, spec.setup))) as { default: (dir: string) => Promise<void> }).default(dir);
    const args = [...spec.args];
    if (!args.includes('-c') && existsSync(path.join(dir, 'config.yaml'))) args.push('-c', 'config.yaml');
    const result = await runCli(args, { cwd: path.join(dir, spec.cwd ?? '.') });
    const report = `exit ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;
    for (const fragment of spec.stderr ?? []) expect({ fragment, in: result.stderr.includes(fragment) ? 'found' : report }).toEqual({ fragment, in: 'found' });
    for (const fragment of spec.stdout ?? []) expect({ fragment, in: result.stdout.includes(fragment) ? 'found' : report }).toEqual({ fragment, in: 'found' });
    expect({ code: result.code, report: result.code === spec.exitCode ? '' : report }).toEqual({ code: spec.exitCode, report: '' });
    // Stack traces only with --verbose.
    if (!args.includes('--verbose')) expect(result.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
  });
});
