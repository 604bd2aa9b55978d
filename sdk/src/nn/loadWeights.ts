import { readSafetensors } from '../safetensors.js';
import type { LoadReport, Module } from '../module.js';
import type { Log } from '../log.js';
import type { RawTensor } from '../safetensors.js';

export interface WeightsOptions {
  strict: boolean;
  log?: Log;
  /** Prefixes a checkpoint may put before this module's names (e.g. `backbone.`); the one matching most names is stripped. */
  prefixes?: string[];
  /** Keys of the checkpoint that belong to parts this module does not have (e.g. a classifier), skipped with a note. */
  ignore?: RegExp[];
  /** Last adjustments on the renamed tensors (e.g. resampling a position embedding). */
  adapt?: (state: Record<string, RawTensor>) => Record<string, RawTensor>;
}

/**
 * Loads a safetensors file (PyTorch names and layouts) into `module`: strips the prefix that
 * fits, drops known foreign keys, then `Module.loadStateDict` checks names and shapes.
 */
export async function loadWeights(module: Module, file: string, options: WeightsOptions): Promise<LoadReport> {
  const { tensors } = await readSafetensors(file);
  const own = new Set(module.stateKeys());
  let best = { prefix: '', hits: -1 };
  for (const prefix of ['', ...(options.prefixes ?? [])]) {
    const hits = Object.keys(tensors).filter((k) => k.startsWith(prefix) && own.has(k.slice(prefix.length))).length;
    if (hits > best.hits) best = { prefix, hits };
  }
  const kept: Array<[string, RawTensor]> = [];
  const skipped: string[] = [];
  for (const [key, value] of Object.entries(tensors)) {
    if (!key.startsWith(best.prefix)) {
      skipped.push(key);
      continue;
    }
    const name = key.slice(best.prefix.length);
    if (!own.has(name) && options.ignore?.some((re) => re.test(name))) skipped.push(key);
    else kept.push([name, value]);
  }
  // fromEntries, not assignment: a tensor name from the file such as "__proto__" must stay a key.
  let state: Record<string, RawTensor> = Object.fromEntries(kept);
  if (options.adapt) state = options.adapt(state);
  const report = module.loadStateDict(state, { strict: options.strict, source: file });
  const log = options.log;
  if (log) {
    log.info(`Loaded ${report.loaded.length} tensors from ${file}${best.prefix ? ` (prefix "${best.prefix}" stripped)` : ''}.`);
    if (skipped.length) log.info(`Skipped ${skipped.length} tensors of other parts: ${skipped.slice(0, 5).join(', ')}${skipped.length > 5 ? ', …' : ''}`);
    const problems = [
      ...report.missing.map((k) => `missing ${k}`),
      ...report.unexpected.map((k) => `unexpected ${k}`),
      ...report.mismatched.map((m) => `${m.name} expected [${m.expected}] got [${m.got}]`),
    ];
    if (problems.length) log.warn(`strict: false, not loaded from ${file}: ${problems.slice(0, 8).join('; ')}${problems.length > 8 ? ` … (${problems.length} in all)` : ''}`);
  }
  return report;
}
