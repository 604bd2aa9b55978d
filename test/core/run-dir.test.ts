import { jest } from '@jest/globals';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs, { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run } from '@bt-platform/core';
import { BtError, readCheckpoint, type BtConfig, type PluginDefinition } from '@bt-platform/sdk';
import { toyPlugin } from '@bt-platform/sdk/testing';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'bt-rundir-'));
const toy = (runDir: string, extra: Partial<BtConfig> = {}): BtConfig => ({
  seed: 1,
  backend: { use: 'cpu' },
  data: { use: 'toy', samples: 16, valSamples: 8 },
  task: { use: 'toy-regression' },
  optimizer: { use: 'sgd', lr: 0.05 },
  trainer: { maxEpochs: 1 },
  runDir,
  ...extra,
});
const tsx = (script: string, args: string[]) =>
  spawn(process.execPath, ['--import', 'tsx', path.resolve('test/core/fixtures', script), ...args], { stdio: ['pipe', 'pipe', 'inherit'] }) as unknown as ChildProcessWithoutNullStreams;
const closed = (child: ChildProcessWithoutNullStreams) => new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('close', () => resolve())));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const children: ChildProcessWithoutNullStreams[] = [];
afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

/** Resolves with the child's stdout once it contains `text`. */
function output(child: ChildProcessWithoutNullStreams, text: string): Promise<string> {
  let out = '';
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes(text)) resolve(out);
    });
    child.once('close', () => (out.includes(text) ? resolve(out) : reject(new Error(`child exited without printing "${text}": ${out}`))));
  });
}

describe('run directories', () => {
  test('processes creating the same run directory at the same moment each get their own', async () => {
    const parent = tmp();
    const creators = Array.from({ length: 4 }, () => tsx('run-dir-creator.ts', [parent, 'same', '25']));
    children.push(...creators);
    const results = creators.map((child) => output(child, ']\n'));
    await Promise.all(creators.map((child) => output(child, 'ready\n')));
    for (const child of creators) child.stdin.write('go\n');
    const dirs = (await Promise.all(results)).flatMap((out) => JSON.parse(out.trim().split('\n').at(-1)!) as string[]);
    expect(dirs).toHaveLength(100);
    expect(new Set(dirs).size).toBe(100);
    expect(readdirSync(parent).sort()).toEqual(dirs.map((d) => path.basename(d)).sort());
  });

  test('a runDir below a regular file is a config error naming the file (ENOTDIR)', async () => {
    const file = path.join(tmp(), 'notes.txt');
    writeFileSync(file, 'not a directory');
    const failed = run({ config: toy(path.join(file, 'runs')), plugins: [toyPlugin], quiet: true });
    await expect(failed).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      exitCode: 2,
      message: expect.stringContaining(`${file} is a file, not a directory (ENOTDIR)`),
      hint: expect.stringContaining('runDir'),
    });
  });

  // Root may write anywhere, so the permission case only means something for other users.
  (process.getuid?.() === 0 || process.platform === 'win32' ? test.skip : test)('an unwritable runDir is a config error saying permission denied', async () => {
    const locked = path.join(tmp(), 'locked');
    mkdirSync(locked, { mode: 0o500 });
    chmodSync(locked, 0o500);
    const failed = run({ config: toy(path.join(locked, 'nested', 'runs')), plugins: [toyPlugin], quiet: true });
    await expect(failed).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      exitCode: 2,
      message: expect.stringMatching(new RegExp(`${path.join(locked, 'nested').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: permission denied \\(EACCES\\)`)),
    });
  });

  (process.platform === 'win32' ? test.skip : test)('temporary files of killed writers are removed at the next start and at resume; a live writer keeps its own', async () => {
    const runs = tmp();
    const first = await run({ config: toy(runs, { callbacks: [{ use: 'checkpoint' }] }), plugins: [toyPlugin], quiet: true });
    const checkpoints = path.dirname(first.summary.lastCheckpoint as string);
    const temps = () => readdirSync(checkpoints).filter((f) => f.includes('.tmp-'));

    /** A real writer (endless 32 MB checkpoints), stopped while it has a temporary file open. */
    async function stoppedMidWrite(): Promise<{ child: ChildProcessWithoutNullStreams; temp: string }> {
      const child = tsx('checkpoint-writer.ts', [path.join(checkpoints, 'other.safetensors')]);
      children.push(child);
      await output(child, '0\n');
      for (let attempt = 0; attempt < 200; attempt++) {
        child.kill('SIGSTOP');
        await sleep(50);
        const temp = temps().find((f) => f.includes(`.tmp-${child.pid}-`));
        if (temp) return { child, temp };
        child.kill('SIGCONT');
        await sleep(3);
      }
      throw new Error('the writer never had a temporary file open');
    }

    const killed = await stoppedMidWrite();
    killed.child.kill('SIGKILL');
    await closed(killed.child);
    const live = await stoppedMidWrite();
    expect(temps().sort()).toEqual([killed.temp, live.temp].sort());

    await run({ config: toy(runs), plugins: [toyPlugin], quiet: true });
    expect(temps()).toEqual([live.temp]);

    live.child.kill('SIGKILL');
    await closed(live.child);
    await run({ config: toy(tmp(), { trainer: { maxEpochs: 2 } }), plugins: [toyPlugin], resume: first.summary.lastCheckpoint as string, quiet: true });
    expect(temps()).toEqual([]);
    expect(readdirSync(checkpoints)).toContain('last.safetensors');
  });

  (existsSync('/dev/full') ? test : test.skip)('a full disk during a checkpoint names the file and the disk, keeps the previous checkpoint and removes the temporary file', async () => {
    // The second write of last.safetensors goes to /dev/full, which fails every write with ENOSPC.
    const realOpen = fs.promises.open.bind(fs.promises);
    let lastWrites = 0;
    const spy = jest.spyOn(fs.promises, 'open').mockImplementation(async (file, flags, mode) => {
      if (/last\.safetensors\.tmp-/.test(String(file)) && ++lastWrites === 2) {
        await (await realOpen(file, flags, mode)).close();
        return realOpen('/dev/full', 'w');
      }
      return realOpen(file, flags, mode);
    });
    const runs = tmp();
    let previous: Buffer | undefined;
    const keepPrevious: PluginDefinition = {
      name: 'keep-previous',
      apply: (hooks, ctx) =>
        hooks.trainEpochStart.tapPromise('keep-previous', async (e) => {
          if (e.epoch === 1) previous = readFileSync(path.join(ctx.runDir, 'checkpoints', 'last.safetensors'));
        }),
    };
    try {
      const failed = run({ config: toy(runs, { trainer: { maxEpochs: 3 }, callbacks: [{ use: 'checkpoint' }] }), plugins: [toyPlugin, keepPrevious], quiet: true });
      const error = (await failed.catch((e: unknown) => e)) as BtError;
      const checkpoints = path.join(runs, readdirSync(runs)[0], 'checkpoints');
      const last = path.join(checkpoints, 'last.safetensors');
      expect(error).toMatchObject({ code: 'FILE_WRITE_FAILED', exitCode: 1 });
      expect(error.message).toContain(`Cannot write ${last}`);
      expect(error.message).toContain('no space left on the disk (ENOSPC)');
      expect(error.message).toMatch(/the disk mounted at \/\S*/);
      expect(error.message).toContain('the previous checkpoint in that file is intact');
      expect(error.hint).toMatch(/--resume .*last\.safetensors/);
      expect(readdirSync(checkpoints)).toEqual(['last.safetensors']);
      expect(readFileSync(last).equals(previous!)).toBe(true);
      expect((await readCheckpoint(last)).trainer.globalStep).toBeGreaterThan(0);
    } finally {
      spy.mockRestore();
    }
  });

  test('a run that fails before training leaves only a directory marked failed: no report, no checkpoints', async () => {
    const runs = tmp();
    const noData: PluginDefinition = {
      name: 'no-data',
      apply: (hooks) =>
        hooks.setup.tapPromise('no-data', async () => {
          throw new BtError('DATA_MISSING', 'data root /nowhere/VOC2012 does not exist.');
        }),
    };
    const callbacks = [{ use: 'checkpoint' }, { use: 'html-report' }];
    await expect(run({ config: toy(runs, { callbacks }), plugins: [toyPlugin, noData], quiet: true })).rejects.toMatchObject({ code: 'DATA_MISSING' });
    const [dir] = readdirSync(runs).map((d) => path.join(runs, d));
    const summary = JSON.parse(readFileSync(path.join(dir, 'summary.json'), 'utf8'));
    expect(summary).toMatchObject({ status: 'failed', error: expect.stringContaining('/nowhere/VOC2012 does not exist') });
    expect(readdirSync(dir)).not.toContain('report.html');
    expect(readdirSync(dir)).not.toContain('checkpoints');

    // A run that fails once training has logged something keeps a report of what it did.
    const late: PluginDefinition = {
      name: 'late',
      apply: (hooks) =>
        hooks.trainEpochEnd.tapPromise('late', async () => {
          throw new Error('fails after the first epoch');
        }),
    };
    const lateRuns = tmp();
    await expect(run({ config: toy(lateRuns, { callbacks }), plugins: [toyPlugin, late], quiet: true })).rejects.toThrow('fails after the first epoch');
    expect(existsSync(path.join(lateRuns, readdirSync(lateRuns)[0], 'report.html'))).toBe(true);

    // A config error stops before any directory exists.
    const configRuns = tmp();
    await expect(run({ config: toy(configRuns, { task: { use: 'no-such-task' } }), plugins: [toyPlugin], quiet: true })).rejects.toMatchObject({ exitCode: 2 });
    expect(readdirSync(configRuns)).toEqual([]);
  });
});
