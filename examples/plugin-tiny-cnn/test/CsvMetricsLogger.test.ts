import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { definePlugin, Stage } from '@bt-platform/sdk';
import { runTinyFit } from '@bt-platform/sdk/testing';
import tinyCnnPlugin from '../src/index.js';

function readCsv(file: string): { header: string[]; rows: string[][] } {
  const [header, ...rows] = readFileSync(file, 'utf8').trimEnd().split('\n').map((line) => line.split(','));
  return { header, rows };
}

/** metrics.jsonl (the core's own record) merged into one row per (step, epoch), in order. */
function jsonlRows(runDir: string): Array<{ step: number; epoch: number; values: Record<string, number> }> {
  const rows: Array<{ step: number; epoch: number; values: Record<string, number> }> = [];
  for (const line of readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n')) {
    const event = JSON.parse(line) as { step: number; epoch: number; values: Record<string, number> };
    const last = rows.at(-1);
    if (last && last.step === event.step && last.epoch === event.epoch) Object.assign(last.values, event.values);
    else rows.push({ step: event.step, epoch: event.epoch, values: { ...event.values } });
  }
  return rows;
}

describe('csv-metrics logger', () => {
  test('writes one row per step and epoch and one column per metric, matching metrics.jsonl', async () => {
    const { runDir } = await runTinyFit({
      plugins: [tinyCnnPlugin],
      config: { data: { use: 'toy', samples: 32, batchSize: 8 }, trainer: { maxEpochs: 3 }, loggers: [{ use: 'csv-metrics' }] },
    });
    const { header, rows } = readCsv(path.join(runDir, 'metrics.csv'));
    const expected = jsonlRows(runDir);
    expect(header.slice(0, 2)).toEqual(['step', 'epoch']);
    expect(header).toEqual(expect.arrayContaining(['train/loss', 'train/loss_epoch', 'val/loss', 'val/mae']));
    expect(rows).toHaveLength(expected.length);
    for (const [i, row] of rows.entries()) {
      expect(row).toHaveLength(header.length);
      const values = Object.fromEntries(header.slice(2).map((key, k) => [key, row[k + 2]]).filter(([, v]) => v !== ''));
      expect({ step: Number(row[0]), epoch: Number(row[1]), values: Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Number(v)])) }).toEqual(expected[i]);
    }
  });

  test('keeps the rows logged before a run fails', async () => {
    const failing = definePlugin({
      name: 'fails-in-epoch-2',
      apply(hooks) {
        hooks.trainEpochStart.tapPromise({ name: 'fails-in-epoch-2', stage: Stage.default }, async (event) => {
          if (event.epoch === 1) throw new Error('boom');
        });
      },
    });
    const parent = mkdtempSync(path.join(os.tmpdir(), 'bt-csv-'));
    await expect(
      runTinyFit({ plugins: [tinyCnnPlugin, failing], runDir: parent, config: { data: { use: 'toy', samples: 16, batchSize: 8 }, loggers: [{ use: 'csv-metrics' }] } }),
    ).rejects.toThrow(/boom/);
    const [name] = readdirSync(parent);
    const runDir = path.join(parent, name);
    const { rows } = readCsv(path.join(runDir, 'metrics.csv'));
    expect(rows.map((r) => Number(r[0]))).toEqual(jsonlRows(runDir).map((r) => r.step));
  });

  test('a `file` that is a directory is a config error naming it', async () => {
    await expect(runTinyFit({ plugins: [tinyCnnPlugin], config: { loggers: [{ use: 'csv-metrics', file: 'media' }] } })).rejects.toMatchObject({
      exitCode: 2,
      message: expect.stringMatching(/csv-metrics.*media is a directory/),
    });
  });
});
