/**
 * The [out, in] matrix of PyTorch's 1-D bicubic resampling with align_corners=False, so that a
 * separable 2-D resize is two matmuls (differentiable on every backend). Two flavours:
 * - antialias=false: F.interpolate(mode='bicubic'): Keys kernel a=-0.75, edge pixels replicated.
 * - antialias=true: F.interpolate(mode='bicubic', antialias=True), which timm's
 *   resample_abs_pos_embed uses: kernel a=-0.5, taps outside the input dropped and the rest
 *   renormalised, support widened by the scale when shrinking.
 */
export function bicubicMatrix(inSize: number, outSize: number, antialias: boolean): Float32Array {
  const m = new Float64Array(outSize * inSize);
  const scale = inSize / outSize;
  for (let i = 0; i < outSize; i++) {
    const row = i * inSize;
    if (antialias) {
      const support = scale >= 1 ? 2 * scale : 2;
      const invScale = scale >= 1 ? 1 / scale : 1;
      const center = scale * (i + 0.5);
      const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
      const xmax = Math.min(Math.trunc(center + support + 0.5), inSize);
      let total = 0;
      const w: number[] = [];
      for (let j = xmin; j < xmax; j++) {
        const v = cubic((j - center + 0.5) * invScale, -0.5);
        w.push(v);
        total += v;
      }
      for (let j = xmin; j < xmax; j++) m[row + j] += total !== 0 ? w[j - xmin] / total : 0;
    } else {
      const real = scale * (i + 0.5) - 0.5;
      const base = Math.floor(real);
      const t = real - base;
      const taps = [cubic(t + 1, -0.75), cubic(t, -0.75), cubic(1 - t, -0.75), cubic(2 - t, -0.75)];
      for (let k = 0; k < 4; k++) {
        const j = Math.min(Math.max(base - 1 + k, 0), inSize - 1);
        m[row + j] += taps[k];
      }
    }
  }
  return Float32Array.from(m);
}

function cubic(x: number, a: number): number {
  const ax = Math.abs(x);
  if (ax < 1) return ((a + 2) * ax - (a + 3)) * ax * ax + 1;
  if (ax < 2) return (((ax - 5) * ax + 8) * ax - 4) * a;
  return 0;
}
