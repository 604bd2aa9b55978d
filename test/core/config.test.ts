import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { run, loadRunConfig } from '@bt-platform/core';
import { toyPlugin } from '@bt-platform/sdk/testing';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'bt-config-'));
const inRepo: string[] = [];
// Configs and plugins that import the SDK must live inside the repository to resolve it.
const repoTmp = () => {
  const dir = mkdtempSync(path.join(process.cwd(), 'test', '.tmp-config-'));
  inRepo.push(dir);
  return dir;
};
afterAll(() => inRepo.forEach((dir) => rmSync(dir, { recursive: true, force: true })));
const toy = {
  plugins: ['@bt-platform/sdk/testing'],
  backend: { use: 'cpu' },
  data: { use: 'toy', samples: 16, valSamples: 8 },
  task: { use: 'toy-regression' },
  optimizer: { use: 'sgd', lr: 0.05 },
};

describe('config discovery and merging', () => {
  test.each([
    ['.bt-platformrc.json', JSON.stringify({ seed: 11 })],
    ['.bt-platformrc.yaml', 'seed: 11\n'],
    ['bt-platform.config.mjs', 'export default { seed: 11 };\n'],
    ['bt-platform.config.ts', "import { defineConfig } from '@bt-platform/sdk';\nexport default defineConfig({ seed: 11 });\n"],
    ['package.json', JSON.stringify({ name: 'x', 'bt-platform': { seed: 11 } })],
  ])('discovery finds %s', async (file, content) => {
    const dir = file.endsWith('.ts') ? repoTmp() : tmp();
    writeFileSync(path.join(dir, file), content);
    const { loaded } = await loadRunConfig({ cwd: dir });
    expect(loaded.file).toBe(path.join(dir, file));
    expect(loaded.raw.seed).toBe(11);
  });

  test('discovery looks in parent directories, nearest first, and relative paths resolve against the config found', async () => {
    const root = tmp();
    const deep = path.join(root, 'project', 'src', 'deep');
    mkdirSync(deep, { recursive: true });
    writeFileSync(path.join(root, 'bt-platform.config.yaml'), 'seed: 1\n');
    writeFileSync(path.join(root, 'project', '.bt-platformrc.json'), JSON.stringify({ seed: 2 }));
    const { loaded } = await loadRunConfig({ cwd: deep });
    expect(loaded.file).toBe(path.join(root, 'project', '.bt-platformrc.json'));
    expect(loaded.dir).toBe(path.join(root, 'project'));
    expect(loaded.raw.seed).toBe(2);
  });

  test('discovery stops at the repository root (a folder with .git) and at the home directory', async () => {
    const root = tmp();
    writeFileSync(path.join(root, 'bt-platform.config.yaml'), 'seed: 1\n');
    const repo = path.join(root, 'repo');
    mkdirSync(path.join(repo, '.git', 'objects'), { recursive: true });
    mkdirSync(path.join(repo, 'src'));
    await expect(loadRunConfig({ cwd: path.join(repo, 'src') })).rejects.toMatchObject({
      code: 'CONFIG_NOT_FOUND',
      message: `No bt-platform config found in ${path.join(repo, 'src')} or its parents up to ${repo}.`,
    });
    const home = path.join(root, 'home');
    mkdirSync(path.join(home, 'work'), { recursive: true });
    // The home directory comes from HOME, which only a new process reads.
    const cli = spawnSync(process.execPath, [path.resolve('core/bin/bt-platform.js'), 'validate'], { cwd: path.join(home, 'work'), encoding: 'utf8', env: { ...process.env, HOME: home, NODE_OPTIONS: '' } });
    expect(cli.status).toBe(2);
    expect(cli.stderr).toContain(`error[CONFIG_NOT_FOUND]: No bt-platform config found in ${path.join(home, 'work')} or its parents up to ${home}.`);
  });

  test('extends merges objects deeply, replaces arrays, resolves paths per file; --set wins', async () => {
    const dir = tmp();
    writeFileSync(path.join(dir, 'base.yaml'), 'trainer: { maxEpochs: 5, accumulateGradBatches: 2 }\ncallbacks: [{ use: a }, { use: b }]\nseed: 1\n');
    writeFileSync(path.join(dir, 'mid.yaml'), 'extends: ./base.yaml\ntrainer: { maxEpochs: 3 }\n');
    writeFileSync(path.join(dir, 'top.yaml'), 'extends: [./mid.yaml]\ncallbacks: [{ use: c }]\n');
    const { loaded } = await loadRunConfig({ configFile: path.join(dir, 'top.yaml'), overrides: ['seed=9', 'trainer.fastDevRun=true', 'callbacks.0.topK=2'] });
    expect(loaded.raw).toEqual({
      trainer: { maxEpochs: 3, accumulateGradBatches: 2, fastDevRun: true },
      callbacks: [{ use: 'c', topK: 2 }],
      seed: 9,
    });
  });

  test('a pipeline runs its stages in order and a later stage reads an earlier one\'s summary', async () => {
    const dir = tmp();
    const result = await run({
      config: {
        ...toy,
        plugins: [],
        runDir: dir,
        name: 'pipe',
        callbacks: [{ use: 'checkpoint' }],
        stages: [
          { name: 'first', trainer: { maxEpochs: 1 } },
          { name: 'second', trainer: { maxEpochs: 1 }, loggers: [{ use: 'csv', file: '${stages.first.steps}-steps.csv' }], plugins: ['bt-platform-plugin-hello'] },
        ],
      },
      plugins: [toyPlugin],
      quiet: true,
    });
    expect(result.stages?.map((s) => path.basename(s.runDir))).toEqual(['first', 'second']);
    expect(readdirSync(result.stages![1].runDir)).toContain('2-steps.csv');
    const summary = JSON.parse(readFileSync(path.join(result.runDir, 'summary.json'), 'utf8'));
    expect(summary.stages.first.checkpoint).toMatch(/first\/checkpoints\/last\.safetensors$/);
  });
});

test('evaluating a pipeline uses one stage and drops references to stages that did not run', async () => {
  const dir = tmp();
  const result = await run({
    config: {
      ...toy,
      plugins: [],
      runDir: dir,
      name: 'pipe-eval',
      stages: [
        { name: 'first', trainer: { maxEpochs: 1 } },
        { name: 'second', loggers: [{ use: 'csv', file: '${stages.first.checkpoint}' }], plugins: ['bt-platform-plugin-hello'] },
      ],
    },
    command: 'validate',
    plugins: [toyPlugin],
    quiet: true,
  });
  expect(result.stages).toBeUndefined();
  expect(Object.keys(result.metrics).sort()).toEqual(['val/loss', 'val/mae']);
  // The csv logger's file referred to the first stage's output: dropped, so the default name is used.
  expect(readdirSync(result.runDir)).toContain('metrics.csv');
  expect(readFileSync(path.join(result.runDir, 'log.txt'), 'utf8')).toMatch(/stage "second" run alone: ignoring loggers\.0\.file: \$\{stages\.first\.checkpoint\}/);
});

describe('plugins', () => {
  test('an npm package plugin (examples/plugin-hello) registers a logger and taps hooks, with options', async () => {
    const result = await run({
      config: { ...toy, plugins: ['@bt-platform/sdk/testing', { use: 'bt-platform-plugin-hello', greeting: 'bonjour' }], loggers: [{ use: 'csv' }], runDir: tmp() },
      quiet: true,
    });
    const csv = readFileSync(path.join(result.runDir, 'metrics.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('step,epoch,key,value');
    expect(csv.some((row) => /,train\/loss,/.test(row))).toBe(true);
    expect(result.summary.greeting).toBe('bonjour');
    expect(readFileSync(path.join(result.runDir, 'log.txt'), 'utf8')).toContain('bonjour (after 2 steps)');
  });

  test('a local plugin file is loaded relative to the config file', async () => {
    const dir = repoTmp();
    writeFileSync(
      path.join(dir, 'local.mjs'),
      "export default { name: 'local', apply(hooks, ctx) { hooks.fitEnd.tapPromise('local', async () => ctx.setSummary('local', 'yes')); } };\n",
    );
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...toy, plugins: [...toy.plugins, './local.mjs'], runDir: tmp() }));
    const result = await run({ configFile: path.join(dir, 'config.json'), quiet: true });
    expect(result.summary.local).toBe('yes');
  });

  test('plugin options are validated against the plugin\'s schema', async () => {
    await expect(
      run({ config: { ...toy, plugins: ['@bt-platform/sdk/testing', { use: 'bt-platform-plugin-hello', greting: 'x' }], runDir: tmp() }, quiet: true }),
    ).rejects.toThrow(/plugins\[bt-platform-plugin-hello\]\.greting: unknown key \(did you mean "greeting"\?\)/);
  });
});

describe('secrets', () => {
  test('an API key from the environment or the config appears in no file of the run directory', async () => {
    const secret = 'abcd1234'.repeat(5);
    process.env.WANDB_API_KEY = secret;
    try {
      const result = await run({
        config: { ...toy, name: 'secrets', runDir: tmp(), plugins: ['@bt-platform/sdk/testing', { use: 'bt-platform-plugin-hello', greeting: `key is ${secret}` }] },
        verbose: true,
      });
      const files = readdirSync(result.runDir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
      expect(files.length).toBeGreaterThan(3);
      for (const entry of files) {
        const content = readFileSync(path.join(entry.parentPath, entry.name)).toString('latin1');
        expect({ file: entry.name, leaks: content.includes(secret) }).toEqual({ file: entry.name, leaks: false });
      }
    } finally {
      delete process.env.WANDB_API_KEY;
    }
  });
});
