/** The CUDA libraries tfjs-node-gpu 4.x is linked against (CUDA 11.2, cuDNN 8.1). */
export const CUDA_LIBRARIES = ['libcudart.so.11.0', 'libcublas.so.11', 'libcudnn.so.8'] as const;

/** What can be observed about a loaded tfjs-node(-gpu) backend, gathered by `gatherGpuEvidence`. */
export interface GpuEvidence {
  /** The npm package that loaded, e.g. `@tensorflow/tfjs-node-gpu`. */
  packageName: string;
  /** The backend's `isGPUPackage` flag, when it has one. */
  isGpuPackage?: boolean;
  /** The backend's `isUsingGpuDevice` flag: libtensorflow listed a GPU device when it started. */
  isUsingGpuDevice?: boolean;
  /** For each CUDA library: `null` when it loads, else why not. */
  libraries: Record<string, string | null>;
  /** `CUDA_VISIBLE_DEVICES`, which hides every GPU when empty or `-1`. */
  cudaVisibleDevices?: string;
  ldLibraryPath?: string;
}

export interface GpuVerdict {
  device: 'cpu' | 'gpu';
  /** Set when a GPU was asked for (the GPU package loaded) but the work runs on the CPU. */
  warning?: string;
}

/**
 * Decides whether tfjs-node-gpu really runs on a GPU. tfjs-node-gpu 4.x loads even without the CUDA
 * 11 libraries and then silently computes on the CPU, so the GPU package loading proves nothing.
 */
export function judgeGpu(e: GpuEvidence): GpuVerdict {
  if (!e.packageName.endsWith('-gpu') && !e.isGpuPackage) return { device: 'cpu' };
  if (e.isUsingGpuDevice === true) return { device: 'gpu' };
  const reasons: string[] = [];
  const missing = Object.entries(e.libraries).filter(([, why]) => why !== null);
  if (missing.length) reasons.push(`cannot load ${missing.map(([lib, why]) => `${lib} (${why})`).join(', ')}`);
  if (e.cudaVisibleDevices !== undefined && (e.cudaVisibleDevices.trim() === '' || e.cudaVisibleDevices.trim() === '-1')) {
    reasons.push(`CUDA_VISIBLE_DEVICES="${e.cudaVisibleDevices}" hides every GPU`);
  }
  if (e.isUsingGpuDevice === false && !reasons.length) reasons.push('libtensorflow found no GPU device (no NVIDIA driver, or no GPU on this machine)');
  if (e.isUsingGpuDevice === undefined && !reasons.length) return { device: 'gpu' };
  const warning = [
    `${e.packageName} loaded but is NOT using a GPU: ${reasons.join('; ')}. Training runs on the CPU.`,
    'Fix: tfjs-node-gpu 4.x needs CUDA 11.2 and cuDNN 8.1 (libcudart.so.11.0, libcublas.so.11, libcudnn.so.8) even where a newer CUDA is installed;',
    `install them (e.g. conda's cudatoolkit=11.2 cudnn=8.1, or NVIDIA's archives) and put their lib directory on LD_LIBRARY_PATH (now: ${e.ldLibraryPath || 'unset'}), e.g.`,
    '`export LD_LIBRARY_PATH=/usr/local/cuda-11.2/lib64:$LD_LIBRARY_PATH`; check with `ldconfig -p | grep -E "cudart|cudnn"`.',
  ].join('\n');
  return { device: 'cpu', warning };
}

/**
 * Classifies the error of `process.dlopen` on a plain shared library: the library loaded when the
 * loader got as far as looking for a Node module in it.
 */
export function classifyDlopenError(error: unknown): string | null {
  const message = (error as Error)?.message ?? String(error);
  if (/self-register|napi_register_module|Module did not|undefined symbol: node_/i.test(message)) return null;
  const first = message.split('\n')[0];
  return /cannot open shared object|No such file/i.test(first) ? 'not found' : first;
}

/** Tries to load each CUDA library into this process, the way libtensorflow will. */
export function probeLibraries(names: readonly string[] = CUDA_LIBRARIES): Record<string, string | null> {
  const result: Record<string, string | null> = {};
  for (const name of names) {
    try {
      process.dlopen({ exports: {} } as NodeJS.Module, name);
      result[name] = null;
    } catch (error) {
      result[name] = classifyDlopenError(error);
    }
  }
  return result;
}

/** Gathers the evidence from the live tfjs backend (call after `tf.setBackend('tensorflow')`). */
export function gatherGpuEvidence(packageName: string, backend: unknown): GpuEvidence {
  const flags = backend as { isGPUPackage?: boolean; isUsingGpuDevice?: boolean };
  return {
    packageName,
    isGpuPackage: flags.isGPUPackage,
    isUsingGpuDevice: flags.isUsingGpuDevice,
    libraries: probeLibraries(),
    cudaVisibleDevices: process.env.CUDA_VISIBLE_DEVICES,
    ldLibraryPath: process.env.LD_LIBRARY_PATH,
  };
}
