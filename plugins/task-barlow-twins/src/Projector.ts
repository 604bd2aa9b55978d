import { Sequential, type Module } from '@bt-platform/sdk';
import { BatchNorm1d, Linear } from '@bt-platform/sdk/nn';
import { ReLU } from './ReLU.js';

/**
 * The Barlow Twins projector: `layers` Linear layers of width `dim`, with BatchNorm1d and ReLU
 * between them, as nn.Sequential, so names are `0.weight`, `1.running_mean`, …, `6.weight`.
 */
export function createProjector(inFeatures: number, dim: number, layers: number, bias: boolean, seed: number): Sequential {
  const items: Module[] = [];
  let width = inFeatures;
  for (let i = 0; i < layers; i++) {
    items.push(new Linear(width, dim, seed + 2 * i, bias, 'torch'));
    width = dim;
    if (i < layers - 1) items.push(new BatchNorm1d(dim), new ReLU());
  }
  return new Sequential(items);
}
