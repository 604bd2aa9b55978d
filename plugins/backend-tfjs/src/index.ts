import { createRequire } from 'node:module';
import { BtError, definePlugin, Slots, z, type Backend, type BackendInfo, type Log } from '@bt-platform/sdk';
import { pickBackend, reason, type BackendCandidate } from './BackendPicker.js';
import { logBackend } from './backendLine.js';
import { tfjsBackend } from './tfjsBackend.js';
import { useJsBackend } from './JsBackend.js';
import { TENSORFLOW_PACKAGES, useTensorflow } from './TensorflowBackend.js';

export { installWasmBridge, missingWasmKernels } from './WasmBridge.js';
export { judgeGpu, classifyDlopenError, type GpuEvidence, type GpuVerdict } from './GpuCheck.js';
export { pickBackend, type BackendCandidate } from './BackendPicker.js';
export { logBackend, type BackendLineFacts } from './backendLine.js';
export { useJsBackend } from './JsBackend.js';
export { describeOutOfMemory, whatToLower } from './describeOutOfMemory.js';
export { tfjsBackend } from './tfjsBackend.js';
export { planMatMul, type MatMulPlan } from './matMulPlan.js';
export { guardWasmHeap, resetWasmHeapPeak, wasmHeapUsage, WasmHeapExhausted, WASM_HEAP_LIMIT, type WasmHeapUsage } from './WasmHeap.js';

/** The `native` backend lives in its own optional plugin; `auto` uses it when that plugin's addon is built. */
async function useNative(): Promise<BackendInfo> {
  const native = await import('@bt-platform/plugin-backend-native');
  return native.useNativeBackend();
}

/** The `webgpu` backend lives in its own optional plugin; `auto` takes it only on a hardware adapter. */
async function useWebGpu(): Promise<BackendInfo> {
  const webgpu = await import('@bt-platform/plugin-backend-webgpu');
  return webgpu.useWebGpuBackend({ allowSoftware: false });
}

/** `auto`'s order: WebGPU on a hardware adapter, libtensorflow (GPU, then CPU), the native addon, wasm, plain JS. */
export function autoCandidates(log: Log): BackendCandidate[] {
  return [
    { name: 'webgpu', load: useWebGpu },
    ...TENSORFLOW_PACKAGES.map((pkg) => ({ name: pkg, load: () => useTensorflow(pkg, log) })),
    { name: 'native', load: useNative },
    { name: 'wasm', load: () => useJsBackend('wasm') },
    { name: 'cpu', load: () => useJsBackend('cpu') },
  ];
}

/** Whether a package can be found from here, without loading it (loading libtensorflow takes seconds). */
function installed(pkg: string): boolean {
  try {
    createRequire(import.meta.url).resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

const INSTALL_TENSORFLOW = 'Install one: `npm install @tensorflow/tfjs-node` (CPU) or `npm install @tensorflow/tfjs-node-gpu` (CUDA 11.2 + cuDNN 8.1), or set `backend: { use: auto }`.';

function report(log: Log, info: BackendInfo, config: Record<string, unknown>): Backend {
  logBackend(log, info);
  return tfjsBackend(info, config);
}

export default definePlugin({
  name: 'backend-tfjs',
  description: 'TensorFlow.js backends: tensorflow (tfjs-node / tfjs-node-gpu), wasm and cpu, and `auto` to pick the best that loads.',
  register(registrar) {
    const none = z.strictObject({});
    registrar.component(Slots.backend, {
      name: 'auto',
      description: 'The fastest backend that loads: webgpu (hardware adapter only), tfjs-node-gpu, tfjs-node, native (C++ addon), wasm, then cpu.',
      options: none,
      async create(_options, ctx) {
        return tfjsBackend(await pickBackend(autoCandidates(ctx.log), ctx.log), ctx.config);
      },
    });
    registrar.component(Slots.backend, {
      name: 'tensorflow',
      description: 'libtensorflow through @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node (must be installed).',
      options: none,
      declares: () => (TENSORFLOW_PACKAGES.some(installed) ? {} : { unavailable: { reason: `neither ${TENSORFLOW_PACKAGES.join(' nor ')} is installed`, fix: INSTALL_TENSORFLOW } }),
      async create(_options, ctx) {
        const skipped: string[] = [];
        for (const pkg of TENSORFLOW_PACKAGES) {
          try {
            return report(ctx.log, await useTensorflow(pkg, ctx.log), ctx.config);
          } catch (error) {
            skipped.push(`${pkg}: ${reason(error)}`);
          }
        }
        throw new BtError('BACKEND_UNAVAILABLE', `backend "tensorflow" was requested but neither TensorFlow.js native package loads (${skipped.join('; ')}).`, {
          hint: INSTALL_TENSORFLOW,
          exitCode: 2,
        });
      },
    });
    for (const name of ['wasm', 'cpu'] as const) {
      registrar.component(Slots.backend, {
        name,
        description: name === 'wasm' ? 'WebAssembly with SIMD: portable and the fastest pure-JS choice; kernels it lacks run on the cpu backend.' : 'Plain JavaScript: slow, always available.',
        options: none,
        async create(_options, ctx) {
          const info = await useJsBackend(name);
          return report(ctx.log, { ...info, detail: `requested in the config; ${info.detail}` }, ctx.config);
        },
      });
    }
  },
});
