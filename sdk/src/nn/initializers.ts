import * as tf from '@tensorflow/tfjs';
import { Rng } from '../rng.js';

/**
 * Initial values drawn in plain JS from a seeded stream: tfjs's own random ops take minutes for a
 * large model (their generator is slow), and these are overwritten anyway when weights are loaded.
 * Normal values redrawn outside ±`bound` standard deviations. */
export function truncatedNormal(shape: number[], std: number, seed: number, bound = 2): tf.Tensor {
  const rng = new Rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let v: number;
    do v = rng.normal();
    while (v < -bound || v > bound);
    data[i] = v * std;
  }
  return tf.tensor(data, shape);
}

export function uniform(shape: number[], bound: number, seed: number): tf.Tensor {
  const rng = new Rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = (2 * rng.next() - 1) * bound;
  return tf.tensor(data, shape);
}
