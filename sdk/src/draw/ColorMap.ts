import createColormap from 'colormap';
import { ConfigError } from '../errors.js';

export type Rgb = [number, number, number];

/**
 * Maps the `colormap` package lacks. `blue-white-red` is ColorBrewer's RdBu reversed: a diverging
 * map whose middle is near white, so values around the centre of a range read as "nothing" and
 * both signs stand out (the package's own `rdbu` is grey in the middle).
 */
const EXTRA_MAPS: Record<string, Array<{ index: number; rgb: Rgb }>> = {
  'blue-white-red': [
    [33, 102, 172], [67, 147, 195], [146, 197, 222], [209, 229, 240], [247, 247, 247],
    [253, 219, 199], [244, 165, 130], [214, 96, 77], [178, 24, 43],
  ].map((rgb, k, all) => ({ index: k / (all.length - 1), rgb: rgb as Rgb })),
};

/** A colour map from the `colormap` package, sampled into a lookup table. */
export class ColorMap {
  private readonly table: Rgb[];

  constructor(
    readonly name: string,
    readonly shades = 256,
  ) {
    try {
      this.table = createColormap({ colormap: EXTRA_MAPS[name] ?? name, nshades: shades, format: 'rgba' }).map(([r, g, b]) => [r, g, b] as Rgb);
    } catch (error) {
      throw new ConfigError('CONFIG_INVALID', `Unknown colour map "${name}".`, {
        hint: 'Use blue-white-red (diverging) or a name of the colormap package, e.g. viridis, inferno, magma, plasma, jet, rainbow, hot, greys.',
        cause: error,
      });
    }
  }

  /** Colour of `t` in [0, 1] (clamped). */
  rgb(t: number): Rgb {
    const clamped = Number.isFinite(t) ? Math.min(1, Math.max(0, t)) : 0;
    return this.table[Math.round(clamped * (this.shades - 1))];
  }

  /** RGB pixels of `values` mapped linearly from [lo, hi] to the colour map. */
  paint(values: ArrayLike<number>, lo: number, hi: number): Uint8Array {
    const out = new Uint8Array(values.length * 3);
    const span = hi - lo || 1;
    for (let i = 0; i < values.length; i++) out.set(this.rgb((values[i] - lo) / span), i * 3);
    return out;
  }
}
