/**
 * Nearest-neighbour resize of a label map (pixel centres mapped onto the source grid, as
 * `F.interpolate(mode='nearest-exact')`), so class indices stay class indices.
 */
export function resizeNearest(labels: ArrayLike<number>, width: number, height: number, toWidth: number, toHeight: number): Uint8Array {
  const out = new Uint8Array(toWidth * toHeight);
  const columns = new Int32Array(toWidth);
  for (let x = 0; x < toWidth; x++) columns[x] = Math.min(width - 1, Math.floor(((x + 0.5) * width) / toWidth));
  for (let y = 0; y < toHeight; y++) {
    const row = Math.min(height - 1, Math.floor(((y + 0.5) * height) / toHeight)) * width;
    for (let x = 0; x < toWidth; x++) out[y * toWidth + x] = labels[row + columns[x]];
  }
  return out;
}
