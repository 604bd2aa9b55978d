import { readFileSync } from 'node:fs';
import os from 'node:os';

/** x86 vector extensions as compiled code names them, widest first; each includes the ones after it. */
const X86: ReadonlyArray<[flag: string, name: string]> = [
  ['avx512f', 'AVX-512'],
  ['avx2', 'AVX2'],
  ['avx', 'AVX'],
  ['sse4_2', 'SSE4.2'],
  ['sse2', 'SSE2'],
];
// aarch64 lists NEON as `asimd`, 32-bit ARM as `neon`.
const EXTENSIONS: ReadonlyArray<[flag: string, name: string]> = [...X86, ['asimd', 'NEON'], ['neon', 'NEON']];

/**
 * The widest vector extension in a Linux /proc/cpuinfo's flags (`Features` on ARM). Code compiled
 * with -march=native (the native backend's addon) sums in an order set by it, so two CPUs that
 * differ here round the same run differently.
 */
export function cpuVectorExtension(cpuinfo: string): string | undefined {
  const flags = new Set(/^(?:flags|Features)\s*:(.*)$/m.exec(cpuinfo)?.[1].trim().split(/\s+/));
  return EXTENSIONS.find(([flag]) => flags.has(flag))?.[1];
}

/** This machine's widest vector extension; undefined where /proc/cpuinfo does not exist (not Linux). */
export function hostVectorExtension(): string | undefined {
  try {
    return cpuVectorExtension(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Whether code compiled for `builtFor` can run on a CPU whose widest extension is `host`: false
 * when it needs a wider x86 extension than the CPU has (it would die of an illegal instruction).
 */
export function vectorExtensionRunsOn(builtFor: string, host: string): boolean {
  const widestFirst = X86.map(([, name]) => name);
  const built = widestFirst.indexOf(builtFor);
  const have = widestFirst.indexOf(host);
  return built < 0 || have < 0 || built >= have;
}

/** CPU model, cores and (on Linux) vector extension: `AMD EPYC × 2, AVX-512`. */
export function describeCpu(): string {
  const extension = hostVectorExtension();
  return `${os.cpus()[0]?.model?.trim() || 'unknown CPU'} × ${os.availableParallelism()}${extension ? `, ${extension}` : ''}`;
}
