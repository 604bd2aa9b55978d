import { cpuVectorExtension, describeCpu, vectorExtensionRunsOn } from '@bt-platform/sdk';

describe('CPU facts (run-info.json, the native backend)', () => {
  it("names the widest vector extension in /proc/cpuinfo's flags", () => {
    expect(cpuVectorExtension('processor\t: 0\nflags\t\t: fpu sse2 sse4_2 avx avx2 fma avx512f avx512dq\n')).toBe('AVX-512');
    expect(cpuVectorExtension('flags\t\t: fpu sse2 sse4_1 sse4_2 avx avx2 fma\n')).toBe('AVX2');
    expect(cpuVectorExtension('flags\t\t: fpu sse2\n')).toBe('SSE2');
    // aarch64 lists "Features"; asimd is NEON.
    expect(cpuVectorExtension('processor\t: 0\nFeatures\t: fp asimd evtstrm aes\n')).toBe('NEON');
    // A Raspberry Pi 3 in 32-bit mode.
    expect(cpuVectorExtension('processor\t: 0\nmodel name\t: ARMv7 Processor rev 4 (v7l)\nFeatures\t: half thumb fastmult vfp edsp neon vfpv3 tls vfpv4 idiva idivt vfpd32 lpae evtstrm crc32\n')).toBe('NEON');
    // Only the flags line counts: a model name mentioning AVX2 does not.
    expect(cpuVectorExtension('model name\t: AVX2 Turbo\nflags\t\t: fpu sse2\n')).toBe('SSE2');
    expect(cpuVectorExtension('')).toBeUndefined();
  });

  it('says code built for a wider x86 extension than the CPU has cannot run there', () => {
    expect(vectorExtensionRunsOn('AVX-512', 'AVX2')).toBe(false);
    expect(vectorExtensionRunsOn('AVX2', 'SSE4.2')).toBe(false);
    expect(vectorExtensionRunsOn('AVX2', 'AVX-512')).toBe(true);
    expect(vectorExtensionRunsOn('AVX-512', 'AVX-512')).toBe(true);
    // Nothing known to compare: not refused.
    expect(vectorExtensionRunsOn('NEON', 'NEON')).toBe(true);
    expect(vectorExtensionRunsOn('scalar', 'AVX2')).toBe(true);
  });

  it('describes this machine with model, cores and (on Linux) the vector extension', () => {
    expect(describeCpu()).toMatch(process.platform === 'linux' ? /^.+ × \d+, (AVX-512|AVX2|AVX|SSE4\.2|SSE2|NEON)$/ : /^.+ × \d+/);
  });
});
