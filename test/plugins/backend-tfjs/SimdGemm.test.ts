import { simdGemm } from '../../../plugins/backend-tfjs/src/SimdGemm.js';

/** A·B by the definition, A read through the same strides the kernel is given. */
function reference(heap: Float32Array, a: number, b: number, m: number, n: number, k: number, rowStep: number, colStep: number): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let p = 0; p < k; p++) sum += heap[(a + i * rowStep + p * colStep) / 4] * heap[b / 4 + p * n + j];
      out[i * n + j] = sum;
    }
  return out;
}

describe('SIMD gemm on a shared WebAssembly memory', () => {
  const memory = new WebAssembly.Memory({ initial: 4 });
  const gemm = simdGemm(memory);

  it('assembles and validates on this Node', () => {
    expect(gemm).toBeInstanceOf(Function);
  });

  // Column counts around the 16- and 4-wide tiles, a transposed A, k = 0 and 1.
  it.each([
    [1, 1, 1, false],
    [3, 5, 2, false],
    [9, 16, 7, false],
    [9, 16, 7, true],
    [65, 65, 16, false],
    [65, 16, 65, true],
    [7, 37, 9, true],
    [4, 21, 0, false],
  ])('m=%i n=%i k=%i transposed A=%s', (m, n, k, transposed) => {
    const heap = new Float32Array(memory.buffer);
    const [a, b, c] = [64, 64 + 4 * 8192, 64 + 8 * 8192]; // byte addresses, not at 0
    let seed = m * 1000 + n * 10 + k;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
    for (let i = 0; i < m * k; i++) heap[a / 4 + i] = random();
    for (let i = 0; i < k * n; i++) heap[b / 4 + i] = random();
    heap.fill(Number.NaN, c / 4, c / 4 + m * n + 4); // every output overwritten; nothing past it touched
    const [rowStep, colStep] = transposed ? [4, 4 * m] : [4 * k, 4];
    gemm!(a, b, c, m, n, k, rowStep, colStep);
    const expected = reference(heap, a, b, m, n, k, rowStep, colStep);
    for (let i = 0; i < m * n; i++) expect(Math.abs(heap[c / 4 + i] - expected[i])).toBeLessThan(1e-5 * Math.max(1, Math.abs(expected[i])));
    for (let i = m * n; i < m * n + 4; i++) expect(heap[c / 4 + i]).toBeNaN();
  });
});
