import { readFileSync } from 'node:fs';

export interface FixtureTensor {
  shape: number[];
  data: number[];
}

/** Reads a JSON fixture written by test/fixtures/tasks/generate.py. */
export function readTaskFixture<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(`../../fixtures/tasks/${name}`, import.meta.url), 'utf8')) as T;
}

/** Largest |actual − expected| relative to the largest |expected| (1 when expected is all zeros). */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} != ${expected.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return diff / Math.max(scale, 1e-12);
}
