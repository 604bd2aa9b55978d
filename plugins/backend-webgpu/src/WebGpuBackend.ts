import * as tf from '@tensorflow/tfjs';
import type { BackendInfo } from '@bt-platform/sdk';
import { classifyAdapter, describeAdapter, type AdapterFacts, type AdapterKind } from './AdapterCheck.js';
import { dawnInstance, TFJS_WEBGPU_PACKAGE, type GpuAdapterLike, type GpuDeviceLike } from './Dawn.js';
import { DeviceErrors } from './DeviceErrors.js';
import { setFusedKernels } from './FusedKernels.js';
import { probeAdapter, type AdapterProbe } from './probeAdapter.js';
import { reuseBindGroups } from './BindGroupReuse.js';
import { installSyncRead, type WebGpuBackendLike } from './SyncRead.js';

export interface WebGpuOptions {
  /** Accept a software adapter (Mesa lavapipe, SwiftShader): correct, but slower than `wasm`. */
  allowSoftware?: boolean;
  powerPreference?: 'high-performance' | 'low-power';
  /** Dawn instance toggles, e.g. `['backend=null']` for a device that executes nothing (benchmarks of host cost). */
  dawnFlags?: readonly string[];
  /** WGSL kernels for the SDK's fused ops (GELU, layer and batch norm, softmax gradient, Adam); default true. */
  fusedKernels?: boolean;
  /** Stable buffer assignment and cached bind groups (BindGroupReuse); default true, false for comparison. */
  reuseBindGroups?: boolean;
}

export interface WebGpuBackendInfo extends BackendInfo {
  adapter: AdapterFacts;
  adapterKind: AdapterKind;
}

/** Why the WebGPU backend cannot start; `reason` is one line, `fix` says what to install or set. */
export class WebGpuUnavailable extends Error {
  constructor(
    readonly reason: string,
    readonly fix: string,
  ) {
    super(reason);
    this.name = 'WebGpuUnavailable';
  }
}

export const INSTALL_FIX = 'Install the optional packages: `npm install webgpu @tensorflow/tfjs-backend-webgpu@4.22` (Dawn ships as a prebuilt binary; no CUDA needed).';

export const VULKAN_FIX = [
  'Dawn runs WebGPU on Vulkan (Linux): install the GPU driver\'s Vulkan ICD.',
  'NVIDIA: the driver\'s Vulkan ICD json (/usr/share/vulkan/icd.d/nvidia_icd.json, or /etc/vulkan/icd.d/) and libGLX_nvidia.so.0 come with the full driver, not with CUDA alone;',
  'in a container set NVIDIA_DRIVER_CAPABILITIES to include `graphics` (e.g. `compute,utility,graphics` or `all`) so that the runtime mounts them.',
  'AMD/Intel: Mesa\'s `mesa-vulkan-drivers` plus `libvulkan1`. Check with `vulkaninfo --summary`; point Dawn at an ICD with VK_ICD_FILENAMES=<icd.json>.',
].join(' ');

export const SOFTWARE_FIX = `Set \`backend: { use: webgpu, allowSoftware: true }\` to train on it anyway (tests, CI). If this machine has a GPU, Dawn cannot see it. ${VULKAN_FIX}`;

let current: { key: string; info: WebGpuBackendInfo; device: GpuDeviceLike } | undefined;

/**
 * Makes tfjs compute on WebGPU through Dawn: picks the adapter, refuses a software one unless
 * allowed, registers tfjs-backend-webgpu's backend on a device of that adapter and switches tfjs
 * to it. Throws `WebGpuUnavailable` saying why and how to fix it. Calling again with the same
 * options reuses the device.
 */
export async function useWebGpuBackend(options: WebGpuOptions = {}): Promise<WebGpuBackendInfo> {
  const flags = options.dawnFlags ?? [];
  const powerPreference = options.powerPreference ?? 'high-performance';
  const reuse = options.reuseBindGroups ?? true;
  const key = JSON.stringify([flags, powerPreference, reuse]);
  // Not tf.findBackend: it would start the initialisation of a backend this call is about to replace.
  if (current?.key === key && 'webgpu' in tf.engine().registryFactory) {
    checkKind(current.info, options);
    setFusedKernels(options.fusedKernels ?? true);
    await switchTo();
    return current.info;
  }
  if (!options.allowSoftware) refuseFromProbe(probeAdapter(flags, powerPreference));
  let gpu;
  try {
    gpu = await dawnInstance(flags);
  } catch (error) {
    throw bindingUnavailable(error);
  }
  const adapter = await gpu.requestAdapter({ powerPreference }).catch((error: unknown) => {
    throw adaptersUnlisted(firstLine(error));
  });
  if (!adapter) throw noAdapter();
  const facts = adapterFacts(adapter);
  const adapterKind = classifyAdapter(facts);
  const name = describeAdapter(facts);
  const info: WebGpuBackendInfo = {
    name: 'webgpu',
    device: adapterKind === 'hardware' ? 'gpu' : 'cpu',
    detail: `WebGPU (Dawn) on ${adapterKind === 'hardware' ? '' : `a ${adapterKind === 'null' ? 'null (executes nothing)' : 'software'} adapter, `}${name}`,
    adapter: facts,
    adapterKind,
  };
  checkKind(info, options);
  try {
    await import(TFJS_WEBGPU_PACKAGE);
  } catch (error) {
    throw new WebGpuUnavailable(`\`${TFJS_WEBGPU_PACKAGE}\` ${loadFailure(error)}`, INSTALL_FIX);
  }
  const device = await adapter.requestDevice(deviceDescriptor(adapter)).catch((error: unknown) => {
    throw new WebGpuUnavailable(`Dawn could not open a device on ${name}: ${firstLine(error)}`, VULKAN_FIX);
  });
  const { WebGPUBackend } = (await import(TFJS_WEBGPU_PACKAGE)) as { WebGPUBackend: new (device: GpuDeviceLike, info: AdapterFacts) => WebGpuBackendLike };
  // The package registers a backend of its own (on an adapter of its choosing) when it loads.
  if ('webgpu' in tf.engine().registryFactory) tf.removeBackend('webgpu');
  current?.device.destroy();
  const errors = new DeviceErrors(device);
  tf.registerBackend('webgpu', () => {
    const backend = keepVariablesOnGpu(installSyncRead(new WebGPUBackend(device, facts), errors));
    return reuse ? reuseBindGroups(backend) : backend;
  }, 3);
  setFusedKernels(options.fusedKernels ?? true);
  current = { key, info, device };
  await switchTo();
  return info;
}

/**
 * tfjs-backend-webgpu runs an op on the CPU when all its inputs are small and still host-resident.
 * A variable is host-resident until its first update writes it on the GPU, so an op on a small
 * parameter (the ViT's class token) would run on the CPU in the first step and compile its GPU
 * pipeline in the second. Ops that read a variable run on the GPU from the start.
 */
function keepVariablesOnGpu<B extends object>(backend: B): B {
  const gpu = backend as unknown as { shouldExecuteOnCPU(inputs: tf.TensorInfo[], sizeThreshold?: number): boolean };
  const original = gpu.shouldExecuteOnCPU.bind(backend);
  gpu.shouldExecuteOnCPU = (inputs, sizeThreshold) => original(inputs, sizeThreshold) && !inputs.some(isVariableData);
  return backend;
}

function isVariableData(info: tf.TensorInfo): boolean {
  return Object.values(tf.engine().state.registeredVariables).some((v) => v.dataId === info.dataId);
}

function checkKind(info: WebGpuBackendInfo, options: WebGpuOptions): void {
  if (info.adapterKind === 'software' && !options.allowSoftware) throw softwareOnly(info.adapter);
}

// What this process and the child that probes the adapter first (refuseFromProbe) both refuse.
const bindingUnavailable = (error: unknown) => new WebGpuUnavailable(`the \`webgpu\` package (Dawn's Node binding) ${loadFailure(error)}`, INSTALL_FIX);
const adaptersUnlisted = (reason: string) => new WebGpuUnavailable(`Dawn could not list the GPU adapters: ${reason}`, VULKAN_FIX);
const noAdapter = () => new WebGpuUnavailable('Dawn found no GPU adapter (no usable Vulkan driver)', VULKAN_FIX);
const softwareOnly = (facts: AdapterFacts) =>
  new WebGpuUnavailable(`the only WebGPU adapter is a software renderer, ${describeAdapter(facts)}, slower than the wasm backend`, SOFTWARE_FIX);

/**
 * Refuses, from a child process's look at the adapter (probeAdapter), what this process would
 * refuse after loading Dawn: no binding, no adapter, or only a software one. A hardware adapter (or
 * no answer from the child) goes on to load Dawn here.
 */
function refuseFromProbe(probe: AdapterProbe | undefined): void {
  if (probe?.kind === 'loadFailed') throw bindingUnavailable(new Error(probe.message));
  if (probe?.kind === 'listFailed') throw adaptersUnlisted(probe.message);
  if (probe?.kind === 'none') throw noAdapter();
  if (probe?.kind === 'adapter') {
    const facts = adapterFacts({ info: probe.info });
    if (classifyAdapter(facts) === 'software') throw softwareOnly(facts);
  }
}

async function switchTo(): Promise<void> {
  const ok = await tf.setBackend('webgpu');
  await tf.ready();
  if (!ok || tf.getBackend() !== 'webgpu') throw new WebGpuUnavailable('the tfjs "webgpu" backend failed to initialise', VULKAN_FIX);
}

const firstLine = (error: unknown) => ((error as Error)?.message ?? String(error)).split('\n')[0];

function loadFailure(error: unknown): string {
  const message = (error as Error)?.message ?? String(error);
  if ((error as { code?: string })?.code === 'ERR_MODULE_NOT_FOUND' || /Cannot find (module|package)/.test(message)) return 'is not installed';
  return `failed to load: ${firstLine(error)}`;
}

/** Dawn exposes `isFallbackAdapter` on the info object; older implementations on the adapter. */
function adapterFacts(adapter: Pick<GpuAdapterLike, 'info' | 'isFallbackAdapter'>): AdapterFacts {
  const info = (adapter.info ?? {}) as Record<string, unknown>;
  const text = (key: string) => (typeof info[key] === 'string' ? (info[key] as string) : undefined);
  return {
    vendor: text('vendor'),
    architecture: text('architecture'),
    device: text('device'),
    description: text('description'),
    isFallbackAdapter: Boolean(info.isFallbackAdapter ?? adapter.isFallbackAdapter),
  };
}

/** The limits tfjs-backend-webgpu asks for in a browser: the adapter's own maxima for buffers and workgroups. */
function deviceDescriptor(adapter: GpuAdapterLike) {
  // maxStorageBuffersPerShaderStage: the fused Adam updates as many parameters a dispatch as it allows.
  const names = ['maxComputeWorkgroupStorageSize', 'maxComputeWorkgroupsPerDimension', 'maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupSizeX', 'maxComputeInvocationsPerWorkgroup', 'maxStorageBuffersPerShaderStage'];
  return {
    requiredFeatures: adapter.features.has('timestamp-query') ? ['timestamp-query'] : [],
    requiredLimits: Object.fromEntries(names.map((n) => [n, adapter.limits[n]])),
  };
}
