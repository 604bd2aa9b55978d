/**
 * PASCAL VOC's colour map: class index i is drawn as the colour built from the bits of i.
 * Masks saved as RGB rather than as palette indices are read back by inverting the map.
 */

/** @param {number} index */
function colourOf(index) {
  let r = 0;
  let g = 0;
  let b = 0;
  let c = index;
  for (let j = 0; j < 8; j++) {
    r |= (c & 1) << (7 - j);
    g |= ((c >> 1) & 1) << (7 - j);
    b |= ((c >> 2) & 1) << (7 - j);
    c >>= 3;
  }
  return [r, g, b];
}

export const VOC_PALETTE = Object.freeze(Array.from({ length: 256 }, (_, i) => Object.freeze(colourOf(i))));

/** The VOC colours only use the top three bits of each channel, so (r>>5, g>>5, b>>5) is a 9-bit key. */
const inverse = new Int16Array(512).fill(-1);
VOC_PALETTE.forEach(([r, g, b], i) => {
  inverse[((r >> 5) << 6) | ((g >> 5) << 3) | (b >> 5)] = i;
});

/**
 * The palette index of an RGB colour, or -1 when the colour is not one of VOC's.
 * @param {number} r @param {number} g @param {number} b
 */
export function paletteIndexOf(r, g, b) {
  if ((r & 31) !== 0 || (g & 31) !== 0 || (b & 31) !== 0) return -1;
  return inverse[((r >> 5) << 6) | ((g >> 5) << 3) | (b >> 5)];
}
