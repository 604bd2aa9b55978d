/**
 * The one source of randomness. Every plugin forks its own stream by name, so adding a consumer
 * never changes what another consumer draws, and `state()` / `restore()` make resumed runs
 * continue exactly where they stopped.
 */
export type RngState = [number, number, number, number];

function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** xoshiro128** seeded through splitmix32. */
export class Rng {
  private s: RngState;
  private readonly seedValue: number;

  constructor(seed: number | string = 0) {
    this.seedValue = typeof seed === 'string' ? hashString(seed) : seed >>> 0;
    const mix = splitmix32(this.seedValue);
    this.s = [mix(), mix(), mix(), mix()];
  }

  get seed(): number {
    return this.seedValue;
  }

  /** An independent stream derived from this one's seed and the given labels (not from its position). */
  fork(...labels: Array<string | number>): Rng {
    return new Rng(hashString(`${this.seedValue}/${labels.join('/')}`));
  }

  /** Uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  uniform(low: number, high: number): number {
    return low + (high - low) * this.next();
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  bernoulli(p: number): boolean {
    return this.next() < p;
  }

  normal(mean = 0, std = 1): number {
    const u = 1 - this.next();
    const v = this.next();
    return mean + std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** A seed for tfjs random ops (initialisers, dropout). */
  tfSeed(): number {
    return this.nextUint32() % 2147483647;
  }

  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }

  state(): RngState {
    return [...this.s] as RngState;
  }

  restore(state: RngState): void {
    this.s = [...state] as RngState;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
