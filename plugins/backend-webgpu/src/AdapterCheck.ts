/** The fields of a `GPUAdapterInfo` this plugin reads (Dawn fills all four; browsers may leave some empty). */
export interface AdapterFacts {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  /** `GPUAdapterInfo.isFallbackAdapter` (newer spec) or the older `GPUAdapter.isFallbackAdapter`. */
  isFallbackAdapter?: boolean;
}

/**
 * `hardware`: a real GPU. `software`: a CPU rasteriser posing as a GPU (Mesa lavapipe / llvmpipe,
 * SwiftShader, Microsoft's WARP): correct but slower than the wasm backend. `null`: Dawn's
 * `backend=null` device, which executes nothing (used to measure host cost).
 */
export type AdapterKind = 'hardware' | 'software' | 'null';

const SOFTWARE_NAMES = /llvmpipe|lavapipe|softpipe|swiftshader|microsoft basic render|\bwarp\b/i;

export function classifyAdapter(facts: AdapterFacts): AdapterKind {
  if (facts.device === 'null-backend') return 'null';
  if (facts.isFallbackAdapter) return 'software';
  if (facts.architecture === 'software') return 'software';
  const names = [facts.vendor, facts.architecture, facts.device, facts.description].filter(Boolean).join(' ');
  return SOFTWARE_NAMES.test(names) ? 'software' : 'hardware';
}

/** One line naming the adapter, e.g. `nvidia hopper (NVIDIA H200)`, for logs and errors. */
export function describeAdapter(facts: AdapterFacts): string {
  const head = [facts.vendor, facts.architecture].filter(Boolean).join(' ') || 'unknown vendor';
  const name = facts.description || facts.device;
  return name ? `${head} (${name})` : head;
}
