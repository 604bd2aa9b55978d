/**
 * DINO's attention thresholding: keeps the smallest set of patches whose attention adds up to
 * at least `threshold` of the total (the largest values first). Returns 1 for kept patches.
 */
export function dinoThreshold(attention: ArrayLike<number>, threshold: number): Uint8Array {
  const n = attention.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => attention[b] - attention[a]);
  let total = 0;
  for (let i = 0; i < n; i++) total += attention[i];
  const keep = new Uint8Array(n);
  let mass = 0;
  for (const i of order) {
    if (mass >= threshold * total) break;
    keep[i] = 1;
    mass += attention[i];
  }
  return keep;
}
