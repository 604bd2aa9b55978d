import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const bin = path.resolve('core/bin/bt-platform.js');
const cli = (...args: string[]) => execFileSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });

describe('CLI commands', () => {
  test('plugins lists every slot with its registered components and their options', () => {
    const text = cli('plugins', '-c', 'test/cases/_toy/base.yaml');
    expect(text).toMatch(/^Plugins:/);
    expect(text).toMatch(/checkpoint \(builtin\)/);
    expect(text).toMatch(/toy \(npm: @bt-platform\/sdk\/testing\)/);
    for (const slot of ['backend (backend)', 'data (datamodule)', 'model.backbone (backbone)', 'task (task)', 'optimizer (optimizer)', 'callbacks[] (callback)', 'loggers[] (logger)']) {
      expect(text).toContain(slot);
    }
    expect(text).toMatch(/ {2}checkpoint {2}\[checkpoint\]/);
    expect(text).toMatch(/monitor {2}\(string\)/);
    expect(text).toMatch(/topK = 1 {2}\(integer\)/);
  });

  test('schema writes a JSON Schema with component names and their options', () => {
    const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'bt-schema-')), 'schema.json');
    cli('schema', '--out', out);
    const schema = JSON.parse(readFileSync(out, 'utf8'));
    expect(schema.properties.trainer.properties.maxEpochs.default).toBe(1);
    // One schema per slot, chosen by `use` (if/then), so a validator reports against the selected component.
    expect(schema.properties.callbacks.items).toEqual({ $ref: '#/$defs/callback' });
    const callbacks = schema.$defs.callback.then.allOf as Array<{ then: { properties: Record<string, any> } }>;
    const checkpoint = callbacks.find((c) => c.then.properties.use.const === 'checkpoint')!.then;
    expect(checkpoint.properties.mode.enum).toEqual(expect.arrayContaining(['min', 'max']));
    expect(schema.$defs.backend.properties.use.enum).toEqual(expect.arrayContaining(['auto', 'wasm', 'cpu', 'tensorflow']));
    expect(schema.properties.stages.type).toContain('array');
  });

  test('run trains the toy task end to end and prints the run directory', () => {
    const runs = mkdtempSync(path.join(os.tmpdir(), 'bt-cli-run-'));
    const text = cli('run', '-c', 'test/cases/_toy/base.yaml', '--set', `runDir=${runs}`, '--set', 'trainer.maxEpochs=2', '--set', 'callbacks=[{use: checkpoint}]', '-q');
    const runDir = text.match(/run directory: (.+)/)![1].trim();
    const summary = JSON.parse(readFileSync(path.join(runDir, 'summary.json'), 'utf8'));
    expect(summary).toMatchObject({ status: 'completed', epochs: 2, steps: 4 });
    const metrics = readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(metrics.some((m) => m.values['val/loss'] !== undefined)).toBe(true);

    // `test` evaluates the checkpoint's weights: the same validation loss as the end of training.
    const valLoss = metrics.filter((m) => m.values['val/loss'] !== undefined).at(-1).values['val/loss'];
    const table = cli('test', '-c', 'test/cases/_toy/base.yaml', '--set', `runDir=${runs}`, '--checkpoint', summary.lastCheckpoint);
    const testLoss = Number(table.match(/test\/loss\s+([\d.]+)/)![1]);
    expect(testLoss).toBeCloseTo(valLoss, 3);
    expect(table).toMatch(/test\/mae\s+[\d.]+/);
  });
});
