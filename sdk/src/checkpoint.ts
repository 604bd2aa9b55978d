import { BtError } from './errors.js';
import type { RngState } from './rng.js';
import { decodeSafetensors, encodeSafetensors, type RawTensor } from './safetensors.js';
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
  const { tensors, metadata } = decodeSafetensors(bytes, source);
  if (metadata.format !== 'bt-platform/1' || typeof metadata.state !== 'string') {
    throw new BtError('CHECKPOINT_INVALID', `${source} is a safetensors file but not a bt-platform checkpoint (no "format" metadata).`, {
      hint: 'To start from plain weights, set the backbone\'s `weights` option instead of --resume.',
    });
  }
  const rest = JSON.parse(metadata.state) as Omit<CheckpointState, 'tensors'>;
  return { ...rest, tensors };
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
