import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BtError, encodeCheckpoint, encodeSafetensors, readCheckpoint, type CheckpointState } from '@bt-platform/sdk';

const valid = (): CheckpointState => ({
  format: 'bt-platform/1',
  trainer: { epoch: 2, batchInEpoch: 1, globalStep: 9, seed: 3, rng: [1, 2, 3, 4] },
  tensors: { 'model.w': { dtype: 'float32', shape: [2], data: Float32Array.from([1, 2]) } },
  plugins: { 'core:optimizer': { optimizer: 'sgd', steps: {} } },
  metrics: { 'val/loss': 0.5 },
});

async function readError(bytes: Uint8Array): Promise<BtError> {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'bt-ckpt-')), 'last.safetensors');
  writeFileSync(file, bytes);
  const error = await readCheckpoint(file).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BtError);
  expect((error as BtError).code).toBe('CHECKPOINT_INVALID');
  expect((error as BtError).message).toContain(file);
  return error as BtError;
}

/** A checkpoint whose trainer state has `field` replaced by `value`. */
const withTrainer = (field: string, value: unknown) => {
  const state = valid();
  return encodeCheckpoint({ ...state, trainer: { ...state.trainer, [field]: value } as unknown as CheckpointState['trainer'] });
};

describe('checkpoint trainer state', () => {
  test('a valid checkpoint reads back, a NaN metric included', async () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'bt-ckpt-')), 'last.safetensors');
    writeFileSync(file, encodeCheckpoint({ ...valid(), metrics: { 'val/loss': NaN, 'val/acc': 0.5 } }));
    const state = await readCheckpoint(file);
    expect(state.trainer).toEqual(valid().trainer);
    expect(state.metrics['val/loss']).toBeNaN();
    expect(state.metrics['val/acc']).toBe(0.5);
    expect(Array.from(state.tensors['model.w'].data)).toEqual([1, 2]);
  });

  test.each([
    ['epoch', -5, /trainer\.epoch is -5, but it must be an integer from 0/],
    ['epoch', 1.5, /trainer\.epoch is 1\.5/],
    ['batchInEpoch', '3', /trainer\.batchInEpoch is "3"/],
    ['globalStep', undefined, /trainer\.globalStep is missing/],
    ['seed', 2 ** 33, /trainer\.seed is 8589934592, but it must be an integer from 0 to 4294967295/],
    ['rng', [1, 2, 3], /trainer\.rng is \[1,2,3\], but it must be four integers/],
    ['rng', [1, 2, -3, 4], /trainer\.rng is \[1,2,-3,4\]/],
    ['rng', [0, 0, 0, 0], /trainer\.rng is all zeros/],
  ])('rejects trainer.%s = %j naming the file and the field', async (field, value, pattern) => {
    const error = await readError(withTrainer(field, value));
    expect(error.message).toMatch(pattern);
    expect(error.hint).toMatch(/another checkpoint of the run/);
  });

  test('rejects optimizer steps at epoch 0, batch 0', async () => {
    const state = valid();
    const bytes = encodeCheckpoint({ ...state, trainer: { ...state.trainer, epoch: 0, batchInEpoch: 0, globalStep: 4 } });
    expect((await readError(bytes)).message).toMatch(/trainer\.globalStep is 4 at epoch 0, batch 0/);
  });

  test.each([
    ['state that is not JSON', '{"trainer": ', /"state" metadata is not JSON/],
    ['state that is not an object', '[1]', /"state" metadata is not a JSON object/],
    ['no trainer', '{"plugins": {}}', /no "trainer" object/],
    ['plugins that are not an object', JSON.stringify({ trainer: valid().trainer, plugins: 3 }), /"plugins" is not an object/],
    ['metrics that are not numbers', JSON.stringify({ trainer: valid().trainer, metrics: { loss: 'low' } }), /"metrics" is not an object of numbers/],
  ])('rejects %s', async (_name, stateJson, pattern) => {
    const bytes = encodeSafetensors({}, { format: 'bt-platform/1', state: stateJson });
    expect((await readError(bytes)).message).toMatch(pattern);
  });

  test('a PyTorch file given as a checkpoint points to the converter and to `weights:`', async () => {
    const error = await readError(new Uint8Array([0x50, 0x4b, 0x03, 0x04, 0, 0, 8, 0, 0, 0, 0, 0]));
    expect(error.message).toMatch(/is a PyTorch file/);
    expect(error.hint).toContain('python3 scripts/convert-weights.py');
    expect(error.hint).toContain('only a bt-platform checkpoint can be resumed');
  });
});
