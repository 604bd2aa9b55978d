import { BtError } from './errors.js';
import type { RngState } from './rng.js';
import { decodeSafetensors, encodeSafetensors, pytorchFileError, pytorchFormat, type RawTensor } from './safetensors.js';
import { writeFileAtomic } from './fs.js';
import { promises as fsp } from 'node:fs';

export interface TrainerState {
  epoch: number;
  /** Batches of `epoch` already consumed. */
  batchInEpoch: number;
  globalStep: number;
  seed: number;
  rng: RngState;
}

/**
 * What a checkpoint holds. `tensors` uses prefixes: `model.` (PyTorch layout and names, so
 * `{k[6:]: v}` loads into the PyTorch model) and `optimizer.`; `plugins` holds each stateful
 * plugin's JSON state under its name.
 */
export interface CheckpointState {
  format: 'bt-platform/1';
  trainer: TrainerState;
  tensors: Record<string, RawTensor>;
  plugins: Record<string, unknown>;
  metrics: Record<string, number>;
}

export const MODEL_PREFIX = 'model.';
export const OPTIMIZER_PREFIX = 'optimizer.';

/** Tensors under `prefix`, with the prefix removed. */
export function tensorsWithPrefix(state: CheckpointState, prefix: string): Record<string, RawTensor> {
  const out: Record<string, RawTensor> = {};
  for (const [name, t] of Object.entries(state.tensors)) if (name.startsWith(prefix)) out[name.slice(prefix.length)] = t;
  return out;
}

/** One safetensors file: tensors as tensors, everything else as JSON in the header metadata. */
export function encodeCheckpoint(state: CheckpointState): Uint8Array {
  const { tensors, ...rest } = state;
  return encodeSafetensors(tensors, { format: state.format, state: JSON.stringify(rest) });
}

export function decodeCheckpoint(bytes: Uint8Array, source: string): CheckpointState {
  const pytorch = pytorchFormat(bytes);
  if (pytorch) {
    throw pytorchFileError(source, pytorch, 'start a new run from those weights with a backbone\'s `weights:` option (only a bt-platform checkpoint can be resumed)');
  }
  const { tensors, metadata } = decodeSafetensors(bytes, source);
  if (metadata.format !== 'bt-platform/1' || typeof metadata.state !== 'string') {
    throw new BtError('CHECKPOINT_INVALID', `${source} is a safetensors file but not a bt-platform checkpoint (no "format" metadata).`, {
      hint: 'To start from plain weights, set the backbone\'s `weights` option instead of --resume.',
    });
  }
  let rest: unknown;
  try {
    rest = JSON.parse(metadata.state);
  } catch {
    throw stateError(source, 'its "state" metadata is not JSON');
  }
  return { ...checkState(rest, source), tensors };
}

function stateError(source: string, why: string): BtError {
  return new BtError('CHECKPOINT_INVALID', `Checkpoint ${source}: ${why}.`, {
    hint:
      'The checkpoint was edited or damaged: resume from another checkpoint of the run (the top-k files next to it), ' +
      'or start a new run from its model weights with a backbone\'s `weights:` option (or the segmentation task\'s `backboneCheckpoint`).',
  });
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const UINT32_MAX = 0xffffffff;

/**
 * The JSON part of a checkpoint is untrusted input: every field the trainer uses is checked here,
 * so that a tampered position fails with the field's name instead of training from a nonsense state.
 */
function checkState(value: unknown, source: string): Omit<CheckpointState, 'tensors'> {
  const fail = (why: string) => stateError(source, why);
  if (!isObject(value)) throw fail('its "state" metadata is not a JSON object');
  const { trainer, plugins = {}, metrics = {} } = value;
  if (!isObject(trainer)) throw fail('it has no "trainer" object (epoch, batchInEpoch, globalStep, seed, rng)');
  const count = (field: keyof TrainerState, max = Number.MAX_SAFE_INTEGER): number => {
    const v = trainer[field];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
      throw fail(`trainer.${field} is ${JSON.stringify(v) ?? 'missing'}, but it must be an integer from 0 to ${max}`);
    }
    return v;
  };
  const epoch = count('epoch');
  const batchInEpoch = count('batchInEpoch');
  const globalStep = count('globalStep');
  const seed = count('seed', UINT32_MAX);
  const rng = trainer.rng;
  if (!Array.isArray(rng) || rng.length !== 4 || !rng.every((w) => Number.isInteger(w) && w >= 0 && w <= UINT32_MAX)) {
    throw fail(`trainer.rng is ${JSON.stringify(rng) ?? 'missing'}, but it must be four integers from 0 to ${UINT32_MAX}`);
  }
  if (rng.every((w) => w === 0)) throw fail('trainer.rng is all zeros, a state the generator never leaves');
  if (epoch === 0 && batchInEpoch === 0 && globalStep > 0) {
    throw fail(`trainer.globalStep is ${globalStep} at epoch 0, batch 0, where no optimizer step has been taken yet`);
  }
  if (!isObject(plugins)) throw fail('"plugins" is not an object of plugin states');
  if (!isObject(metrics) || !Object.values(metrics).every((v) => v === null || typeof v === 'number')) {
    throw fail('"metrics" is not an object of numbers');
  }
  return {
    format: 'bt-platform/1',
    trainer: { epoch, batchInEpoch, globalStep, seed, rng: [...rng] as RngState },
    plugins,
    // JSON writes a NaN metric as null.
    metrics: Object.fromEntries(Object.entries(metrics).map(([k, v]) => [k, v === null ? NaN : (v as number)])),
  };
}

/** Atomic: a crash while writing leaves the previous file intact. */
export async function writeCheckpoint(file: string, state: CheckpointState): Promise<void> {
  await writeFileAtomic(file, encodeCheckpoint(state));
}

export async function readCheckpoint(file: string): Promise<CheckpointState> {
  let bytes: Uint8Array;
  try {
    bytes = await fsp.readFile(file);
  } catch (error) {
    throw new BtError('CHECKPOINT_INVALID', `Cannot read checkpoint ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}.`, {
      hint: 'Pass the path of a .safetensors checkpoint from a run directory\'s checkpoints/ folder.',
      cause: error,
    });
  }
  return decodeCheckpoint(bytes, file);
}
