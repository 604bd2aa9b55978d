import * as tf from '@tensorflow/tfjs';
import type { Log, RawTensor } from '@bt-platform/sdk';
import { bicubicMatrix } from './bicubicMatrix.js';

/**
 * Checkpoints pretrained at another image size carry a position embedding for another grid:
 * resample it to `grid`×`grid` as timm's checkpoint filter does (CLS entry kept).
 */
export function resamplePosEmbed(state: Record<string, RawTensor>, grid: number, antialias: boolean, log?: Log): Record<string, RawTensor> {
  const pos = state.pos_embed;
  if (!pos || pos.shape.length !== 3 || pos.shape[1] === 1 + grid * grid) return state;
  const old = Math.round(Math.sqrt(pos.shape[1] - 1));
  if (old * old !== pos.shape[1] - 1) return state;
  const d = pos.shape[2];
  const data = tf.tidy(() => {
    const t = tf.tensor3d(pos.data as Float32Array, [1, pos.shape[1], d]);
    const a = tf.tensor2d(bicubicMatrix(old, grid, antialias), [grid, old]);
    const g = tf.reshape(tf.slice(t, [0, 1, 0], [1, old * old, d]), [old, old * d]);
    const rows = tf.reshape(tf.transpose(tf.reshape(tf.matMul(a, g), [grid, old, d]), [1, 0, 2]), [old, grid * d]);
    const both = tf.transpose(tf.reshape(tf.matMul(a, rows), [grid, grid, d]), [1, 0, 2]);
    return tf.concat([tf.slice(t, [0, 0, 0], [1, 1, d]), tf.reshape(both, [1, grid * grid, d])], 1).dataSync() as Float32Array;
  });
  log?.info(`Resampled pos_embed from a ${old}×${old} to a ${grid}×${grid} grid.`);
  return { ...state, pos_embed: { dtype: 'float32', shape: [1, 1 + grid * grid, d], data: Float32Array.from(data) } };
}
