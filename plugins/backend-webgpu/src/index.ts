import { BtError, definePlugin, Slots, z } from '@bt-platform/sdk';
import { useWebGpuBackend, WebGpuUnavailable } from './WebGpuBackend.js';

export { classifyAdapter, describeAdapter, type AdapterFacts, type AdapterKind } from './AdapterCheck.js';
export { useWebGpuBackend, WebGpuUnavailable, type WebGpuBackendInfo, type WebGpuOptions } from './WebGpuBackend.js';
export type { WebGpuBackendLike } from './SyncRead.js';
export { countGpuWork, type GpuWork } from './GpuWorkCounter.js';
export { FUSED_KERNELS, setFusedKernels } from './FusedKernels.js';
export { reuseBindGroups } from './BindGroupReuse.js';

export const webGpuOptions = z.strictObject({
  allowSoftware: z.boolean().default(false),
  powerPreference: z.enum(['high-performance', 'low-power']).default('high-performance'),
  /** WGSL kernels for the SDK's fused ops; false runs them as tfjs's composite ops (for comparison). */
  fusedKernels: z.boolean().default(true),
});

export default definePlugin({
  name: 'backend-webgpu',
  description: 'TensorFlow.js on WebGPU through Dawn (npm `webgpu`): any current GPU with a Vulkan, Metal or D3D12 driver, no CUDA version pinning.',
  register(registrar) {
    registrar.component(Slots.backend, {
      name: 'webgpu',
      description: 'WebGPU via Dawn (needs the optional packages `webgpu` and `@tensorflow/tfjs-backend-webgpu`, and a GPU driver with Vulkan on Linux); a software adapter only with allowSoftware: true.',
      options: webGpuOptions,
      async create(options, ctx) {
        try {
          const info = await useWebGpuBackend(options);
          ctx.log.info(`backend: ${info.name} (${info.device}, ${info.adapter.description || info.adapter.device || 'unnamed adapter'}; requested in the config)`);
          ctx.log.debug(`backend ${info.name}: ${info.detail}`);
          if (info.adapterKind === 'software') ctx.log.warn(`backend webgpu runs on a software adapter (${info.adapter.description || info.adapter.device}): results are right but training is slower than on the wasm backend.`);
          return { info };
        } catch (error) {
          if (!(error instanceof WebGpuUnavailable)) throw error;
          throw new BtError('BACKEND_UNAVAILABLE', `backend "webgpu" was requested but ${error.reason}.`, { hint: error.fix, exitCode: 2 });
        }
      },
    });
  },
});
