/**
 * A small WebAssembly SIMD matrix product that works directly on tfjs-wasm's heap: the module
 * imports tfjs-wasm's own `WebAssembly.Memory`, so it reads and writes tensors in place, and the
 * heap's growth is visible to it without any copy.
 *
 * `gemm(a, b, c, m, n, k, aRowStep, aColStep)` sets the m×n row-major matrix at byte address `c`
 * to A·B, where B is k×n row-major at `b` and A's element (i, p) is the float at
 * `a + i·aRowStep + p·aColStep` (so a transposed A costs nothing). Each row of C is computed in
 * tiles of 16, then 4 floats held in SIMD registers over the whole k loop, then one float at a time.
 *
 * The module is assembled here, byte by byte, rather than shipped as a binary, so that what runs is
 * what is read.
 */

const I32 = 0x7f;
const F32 = 0x7d;
const V128 = 0x7b;

function uleb(value: number): number[] {
  const bytes: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    bytes.push(byte);
  } while (value !== 0);
  return bytes;
}

function sleb(value: number): number[] {
  const bytes: number[] = [];
  for (;;) {
    const byte = value & 0x7f;
    value >>= 7;
    const done = (value === 0 && (byte & 0x40) === 0) || (value === -1 && (byte & 0x40) !== 0);
    bytes.push(done ? byte : byte | 0x80);
    if (done) return bytes;
  }
}

const name = (text: string) => [...uleb(text.length), ...Buffer.from(text, 'utf8')];
const vector = (items: number[][]) => [...uleb(items.length), ...items.flat()];
const section = (id: number, contents: number[]) => [id, ...uleb(contents.length), ...contents];

// Instructions (the binary format's opcodes; SIMD ones follow the 0xfd prefix).
const get = (local: number) => [0x20, ...uleb(local)];
const set = (local: number) => [0x21, ...uleb(local)];
const i32 = (value: number) => [0x41, ...sleb(value)];
const add = [0x6a];
const sub = [0x6b];
const mul = [0x6c];
const shl = [0x74];
const eqz = [0x45];
const gtS = [0x4a];
const geS = [0x4e];
const simd = (code: number) => [0xfd, ...uleb(code)];
const memarg = (offset: number) => [2, ...uleb(offset)]; // alignment hint: 4 bytes
const f32Load = (offset = 0) => [0x2a, ...memarg(offset)];
const f32Store = (offset = 0) => [0x38, ...memarg(offset)];
const f32Add = [0x92];
const f32Mul = [0x94];
const f32Zero = [0x43, 0, 0, 0, 0];
const v128Load = (offset = 0) => [...simd(0x00), ...memarg(offset)];
const v128Store = (offset = 0) => [...simd(0x0b), ...memarg(offset)];
const v128Zero = [...simd(0x0c), ...new Array<number>(16).fill(0)];
const f32x4Splat = simd(0x13);
const f32x4Add = simd(0xe4);
const f32x4Mul = simd(0xe6);

/** `while (!exit) body`: `exit` leaves an i32 on the stack; `body` must not branch outside itself. */
const until = (exit: number[], body: number[]) => [0x02, 0x40, 0x03, 0x40, ...exit, 0x0d, 1, ...body, 0x0c, 0, 0x0b, 0x0b];
const increment = (local: number, by: number[]) => [...get(local), ...by, ...add, ...set(local)];

// Parameters, then locals, by index.
const [A, B, C, M, N, K, A_ROW_STEP, A_COL_STEP] = [0, 1, 2, 3, 4, 5, 6, 7];
const [ROW, COL, LEFT, AP, BP, CP, A_ROW, C_ROW, B_ROW_STEP] = [8, 9, 10, 11, 12, 13, 14, 15, 16];
const ACC = [17, 18, 19, 20];
const A_SPLAT = 21;
const SUM = 22;
const LOCALS = [
  [9, I32],
  [5, V128],
  [1, F32],
];

/** Pointers at the start of a tile: A's row, B's column `COL`, `k` steps left. */
const startTile = [
  ...get(A_ROW), ...set(AP),
  ...get(B), ...get(COL), ...i32(2), ...shl, ...add, ...set(BP),
  ...get(K), ...set(LEFT),
];
const stepK = [...increment(AP, get(A_COL_STEP)), ...increment(BP, get(B_ROW_STEP)), ...get(LEFT), ...i32(1), ...sub, ...set(LEFT)];
const tileOutput = [...get(C_ROW), ...get(COL), ...i32(2), ...shl, ...add, ...set(CP)];

/** Columns COL.. COL+4·vectors of the current row while they fit, each float accumulated in a register. */
function vectorTiles(vectors: number): number[] {
  const width = 4 * vectors;
  const acc = ACC.slice(0, vectors);
  return until([...get(COL), ...i32(width), ...add, ...get(N), ...gtS], [
    ...acc.flatMap((local) => [...v128Zero, ...set(local)]),
    ...startTile,
    ...until([...get(LEFT), ...eqz], [
      ...get(AP), ...f32Load(), ...f32x4Splat, ...set(A_SPLAT),
      ...acc.flatMap((local, v) => [...get(local), ...get(A_SPLAT), ...get(BP), ...v128Load(16 * v), ...f32x4Mul, ...f32x4Add, ...set(local)]),
      ...stepK,
    ]),
    ...tileOutput,
    ...acc.flatMap((local, v) => [...get(CP), ...get(local), ...v128Store(16 * v)]),
    ...increment(COL, i32(width)),
  ]);
}

/** The remaining columns of the current row, one float at a time. */
const scalarTail = until([...get(COL), ...get(N), ...geS], [
  ...f32Zero, ...set(SUM),
  ...startTile,
  ...until([...get(LEFT), ...eqz], [
    ...get(SUM), ...get(AP), ...f32Load(), ...get(BP), ...f32Load(), ...f32Mul, ...f32Add, ...set(SUM),
    ...stepK,
  ]),
  ...tileOutput,
  ...get(CP), ...get(SUM), ...f32Store(),
  ...increment(COL, i32(1)),
]);

const gemmBody = [
  ...get(N), ...i32(2), ...shl, ...set(B_ROW_STEP),
  ...i32(0), ...set(ROW),
  ...until([...get(ROW), ...get(M), ...geS], [
    ...get(A), ...get(ROW), ...get(A_ROW_STEP), ...mul, ...add, ...set(A_ROW),
    ...get(C), ...get(ROW), ...get(B_ROW_STEP), ...mul, ...add, ...set(C_ROW),
    ...i32(0), ...set(COL),
    ...vectorTiles(4),
    ...vectorTiles(1),
    ...scalarTail,
    ...increment(ROW, i32(1)),
  ]),
];

function gemmModule(): Uint8Array<ArrayBuffer> {
  const params = new Array<number>(8).fill(I32);
  const code = [...vector(LOCALS), ...gemmBody, 0x0b];
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vector([[0x60, ...vector(params.map((t) => [t])), 0]])),
    ...section(2, vector([[...name('env'), ...name('memory'), 0x02, 0x00, 0x00]])),
    ...section(3, vector([[0]])),
    ...section(7, vector([[...name('gemm'), 0x00, 0]])),
    ...section(10, vector([[...uleb(code.length), ...code]])),
  ]);
}

export type Gemm = (a: number, b: number, c: number, m: number, n: number, k: number, aRowStep: number, aColStep: number) => void;

/**
 * The gemm function bound to `memory`, or undefined where this WebAssembly engine lacks SIMD
 * (the caller keeps tfjs-wasm's own product there).
 */
export function simdGemm(memory: WebAssembly.Memory): Gemm | undefined {
  const bytes = gemmModule();
  if (!WebAssembly.validate(bytes)) return undefined;
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
  return instance.exports.gemm as Gemm;
}
