import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hostVectorExtension, vectorExtensionRunsOn } from '@bt-platform/sdk';

/** The C++ addon's functions (native/bt_native.cc); offsets are byte offsets into the wasm heap. */
export interface NativeAddon {
  batchMatMul(heap: ArrayBuffer, a: number, b: number, out: number, m: number, n: number, k: number, transA: boolean, transB: boolean, aOffsets: Int32Array, bOffsets: Int32Array): void;
  biasActivation(heap: ArrayBuffer, out: number, rows: number, cols: number, bias: number, biasSize: number, activation: number, alpha: number): void;
  transpose(heap: ArrayBuffer, x: number, out: number, shape: Int32Array, perm: Int32Array): void;
  unary(heap: ArrayBuffer, op: number, x: number, out: number, n: number): void;
  binary(heap: ArrayBuffer, op: number, a: number, aShape: Int32Array, b: number, bShape: Int32Array, out: number, outShape: Int32Array): void;
  reduce(heap: ArrayBuffer, op: number, x: number, shape: Int32Array, reduceMask: Int32Array, out: number): void;
  unpack(heap: ArrayBuffer, x: number, outer: number, num: number, inner: number, outs: Float64Array): void;
  conv2d(heap: ArrayBuffer, x: number, filter: number, out: number, geometry: Int32Array): void;
  conv2dBackpropInput(heap: ArrayBuffer, dy: number, filter: number, dx: number, geometry: Int32Array): void;
  conv2dBackpropFilter(heap: ArrayBuffer, x: number, dy: number, df: number, geometry: Int32Array): void;
  maxPoolGrad(heap: ArrayBuffer, x: number, dy: number, dx: number, geometry: Int32Array): void;
  gelu(heap: ArrayBuffer, x: number, y: number, n: number): void;
  geluGrad(heap: ArrayBuffer, dy: number, x: number, dx: number, n: number): void;
  layerNorm(heap: ArrayBuffer, x: number, gamma: number, beta: number, y: number, mean: number, rstd: number, rows: number, cols: number, eps: number): void;
  layerNormGrad(heap: ArrayBuffer, dy: number, x: number, gamma: number, mean: number, rstd: number, dx: number, dgamma: number, dbeta: number, rows: number, cols: number): void;
  softmax(heap: ArrayBuffer, x: number, y: number, rows: number, cols: number): void;
  softmaxGrad(heap: ArrayBuffer, dy: number, y: number, dx: number, rows: number, cols: number): void;
  batchNorm(heap: ArrayBuffer, x: number, gamma: number, beta: number, y: number, mean: number, variance: number, rows: number, channels: number, eps: number): void;
  batchNormGrad(heap: ArrayBuffer, dy: number, x: number, gamma: number, mean: number, variance: number, dx: number, dgamma: number, dbeta: number, rows: number, channels: number, eps: number): void;
  adam(heap: ArrayBuffer, param: number, grad: number, m: number, v: number, outParam: number, outM: number, outV: number, n: number, beta1: number, beta2: number, eps: number, decay: number, stepSize: number, sqrtCorrection2: number): void;
  setThreads(n: number): void;
  /** vectorExtension: what the kernels were compiled for (AVX-512, AVX2, …: -march=native). */
  info(): { blas: string; threads: number; vectorExtension: string };
}

export type AddonStatus = { addon: NativeAddon; reason?: undefined } | { addon?: undefined; reason: string };

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
let cached: AddonStatus | undefined;

/** Why an addon compiled for `builtFor` cannot run on a CPU whose widest extension is `host`, if it cannot. */
export function builtForOtherCpu(builtFor: string | undefined, host: string | undefined): string | undefined {
  if (!builtFor || !host || vectorExtensionRunsOn(builtFor, host)) return undefined;
  return `addon compiled for ${builtFor}, but this CPU's widest vector extension is ${host} (it was built on another CPU); rebuild it here with \`npm run build:native\``;
}

/** Loads the addon built at install time, or says why it is not there (disabled, not built, build failure). */
export function loadAddon(): AddonStatus {
  if (process.env.BT_NATIVE === '0') return { reason: 'disabled by BT_NATIVE=0' };
  if (cached) return cached;
  const file = path.join(root, 'build', 'Release', 'bt_native.node');
  if (!existsSync(file)) {
    const statusFile = path.join(root, 'build', 'status.json');
    const why = existsSync(statusFile) ? (JSON.parse(readFileSync(statusFile, 'utf8')) as { reason?: string }).reason : 'the install step did not run';
    cached = { reason: `addon not built: ${why}; build it with \`npm run build:native\` (needs a C++ compiler and libopenblas-dev + pkg-config)` };
    return cached;
  }
  try {
    // OpenMP reads this when the addon loads: idle workers sleep instead of spinning, which matters
    // on a shared machine (workers are only used with threads > 1).
    process.env.OMP_WAIT_POLICY ??= 'PASSIVE';
    const addon = createRequire(import.meta.url)(file) as NativeAddon;
    cached = { addon };
    // Built with -march=native on another CPU (a copied node_modules, an image built elsewhere): its
    // first wide instruction would kill the process, so refuse it while a clear reason can be given.
    const wrongCpu = builtForOtherCpu(addon.info().vectorExtension, hostVectorExtension());
    if (wrongCpu) cached = { reason: wrongCpu };
  } catch (error) {
    cached = { reason: `addon failed to load: ${(error as Error).message.split('\n')[0]}; rebuild it with \`npm run build:native\`` };
  }
  return cached;
}
