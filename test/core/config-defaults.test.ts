import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { loadRunConfig, resolveRun, run, withComponentDefaults } from '@bt-platform/core';
import { toyPlugin } from '@bt-platform/sdk/testing';

describe("a run's config.yaml", () => {
  test('holds every component default and relative paths still work from it: re-running it gives the same result', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bt-defaults-'));
    writeFileSync(
      path.join(dir, 'top.yaml'),
      ['name: repro', 'runDir: runs', 'seed: 3', 'backend: { use: cpu }', 'data: { use: toy, samples: 16, valSamples: 8 }', 'task: { use: toy-regression }', 'optimizer: { use: adamw, lr: 0.01 }', 'callbacks: [{ use: checkpoint }]', ''].join('\n'),
    );
    const first = await run({ configFile: path.join(dir, 'top.yaml'), plugins: [toyPlugin], quiet: true });
    const written = parse(readFileSync(path.join(first.runDir, 'config.yaml'), 'utf8'));
    expect(written.optimizer).toMatchObject({ use: 'adamw', lr: 0.01, betas: [0.9, 0.999], weightDecay: expect.any(Number) });
    expect(written.data).toMatchObject({ use: 'toy', samples: 16, batchSize: 8, features: 4 });
    expect(written.callbacks[0]).toMatchObject({ use: 'checkpoint', topK: 1, mode: 'min' });
    expect(written.configDir).toBe(dir);

    const second = await run({ configFile: path.join(first.runDir, 'config.yaml'), plugins: [toyPlugin], quiet: true });
    expect(path.dirname(second.runDir)).toBe(path.join(dir, 'runs'));
    expect(second.metrics).toEqual(first.metrics);
    expect(parse(readFileSync(path.join(second.runDir, 'config.yaml'), 'utf8'))).toEqual(written);
  });

  test.each(readdirSync('configs', { recursive: true, encoding: 'utf8' }).filter((f) => /\.ya?ml$/.test(f) && !f.startsWith('_base')))(
    'configs/%s: the options with defaults filled in parse to themselves',
    async (file) => {
      const { loaded, stages } = await loadRunConfig({ configFile: path.join('configs', file) });
      for (const stage of stages) {
        const filled = withComponentDefaults(await resolveRun(stage.raw, loaded.dir, loaded.file, []));
        const again = withComponentDefaults(await resolveRun(filled.config as Record<string, unknown>, loaded.dir, loaded.file, []));
        expect(again.config).toEqual(filled.config);
      }
    },
  );
});
