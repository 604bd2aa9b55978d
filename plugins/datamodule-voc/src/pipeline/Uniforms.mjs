/**
 * Random numbers drawn on the main thread (from the platform's RNG) and replayed here, so a sample's
 * augmentation is the same whichever thread processes it.
 */
export class Uniforms {
  /** @param {Float64Array | number[]} values */
  constructor(values) {
    this.values = values;
    this.position = 0;
  }

  next() {
    if (this.position >= this.values.length) throw new Error(`augmentation needs more than ${this.values.length} random numbers`);
    return this.values[this.position++];
  }

  /** @param {number} low @param {number} high */
  uniform(low, high) {
    return low + (high - low) * this.next();
  }

  /** Integer in [0, n). @param {number} n */
  int(n) {
    return Math.min(n - 1, Math.floor(this.next() * n));
  }

  /** @param {number} p */
  bernoulli(p) {
    return this.next() < p;
  }
}

/** How many uniforms one sample may consume (random resized crop retries included). */
export const UNIFORMS_PER_SAMPLE = 128;
