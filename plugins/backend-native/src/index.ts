import os from 'node:os';
import { BtError, definePlugin, Slots, z, type BackendInfo } from '@bt-platform/sdk';
import { installWasmBridge, logBackend, useJsBackend, tfjsBackend, type BackendLineFacts } from '@bt-platform/plugin-backend-tfjs';
import { loadAddon } from './NativeAddon.js';
import { installNativeKernels } from './NativeKernels.js';

export { builtForOtherCpu, loadAddon, type NativeAddon } from './NativeAddon.js';
export { installNativeKernels, uninstallNativeKernels, NATIVE_KERNELS } from './NativeKernels.js';
export { FUSED_KERNELS } from './FusedKernels.js';

export interface NativeOptions {
  /**
   * OpenBLAS and OpenMP threads; 0: BT_NATIVE_THREADS, else every core. Measured on an idle 2-core
   * machine, 2 threads train 1.3–1.7× faster than 1; on a machine loaded by other work, 1 can win.
   */
  threads?: number;
}

/**
 * Worker threads: the option, else BT_NATIVE_THREADS, else every core; never more than the cores,
 * nor than the MAX_THREADS in OpenBLAS's build config (every thread calls sgemm at once, and
 * OpenBLAS has buffers for that many concurrent callers).
 */
export function chooseThreads(requested: number | undefined, fromEnv: string | undefined, cores: number, blasConfig: string): number {
  const blasLimit = Number(/MAX_THREADS=(\d+)/.exec(blasConfig)?.[1]) || Infinity;
  return Math.min(requested || Number(fromEnv) || cores, cores, blasLimit);
}

/**
 * The `wasm` backend with its hot kernels replaced by the C++ addon. Throws, saying why, when the
 * addon is disabled or was not built, so that `auto` falls back to wasm.
 */
export async function useNativeBackend(options: NativeOptions = {}): Promise<BackendInfo & BackendLineFacts> {
  const status = loadAddon();
  if (!status.addon) throw new Error(status.reason);
  const { blas, vectorExtension } = status.addon.info();
  const threads = chooseThreads(options.threads, process.env.BT_NATIVE_THREADS, os.availableParallelism(), blas);
  status.addon.setThreads(threads);
  // The bridge first, so that native kernels also replace bridged ones (Conv2DBackpropFilter).
  await import('@tensorflow/tfjs-backend-wasm');
  installWasmBridge();
  const kernels = installNativeKernels(status.addon);
  const wasm = await useJsBackend('wasm');
  return { name: 'native', device: 'cpu', threads, vectorExtension, detail: `wasm + native ${kernels.join(', ')} (${blas.trim()}, ${threads} thread${threads > 1 ? 's' : ''}); ${wasm.detail}` };
}

export default definePlugin({
  name: 'backend-native',
  description: 'The wasm backend with its hot kernels (matmuls, convolutions, transposes, element-wise ops) in a C++ addon over OpenBLAS: PyTorch-class CPU speed without libtensorflow.',
  register(registrar) {
    registrar.component(Slots.backend, {
      name: 'native',
      description: 'wasm + native kernels (needs the addon built at install: a C++ compiler and libopenblas-dev).',
      options: z.strictObject({ threads: z.number().int().min(0).default(0) }),
      async create(options, ctx) {
        let info: BackendInfo & BackendLineFacts;
        try {
          info = await useNativeBackend(options);
        } catch (error) {
          if (error instanceof BtError) throw error;
          throw new BtError('BACKEND_UNAVAILABLE', `backend "native" was requested but ${(error as Error).message}.`, {
            hint: 'Install a C++ compiler, `libopenblas-dev` and `pkg-config`, then run `npm run build:native`; or set `backend: { use: wasm }` (or `auto`).',
            exitCode: 2,
          });
        }
        logBackend(ctx.log, info);
        return tfjsBackend(info, ctx.config);
      },
    });
  },
});
