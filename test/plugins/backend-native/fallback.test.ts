import * as tf from '@tensorflow/tfjs';
import type { Backend, ComponentDefinition, Log, RunContext } from '@bt-platform/sdk';
import tfjsPlugin from '@bt-platform/plugin-backend-tfjs';
import nativePlugin, { builtForOtherCpu, chooseThreads, useNativeBackend } from '@bt-platform/plugin-backend-native';

function componentsOf(plugin: typeof tfjsPlugin): Map<string, ComponentDefinition<Backend>> {
  const defs = new Map<string, ComponentDefinition<Backend>>();
  plugin.register!({ component: (_slot, def) => void defs.set(def.name, def as unknown as ComponentDefinition<Backend>) }, {});
  return defs;
}

function ctx(): RunContext & { lines: string[] } {
  const lines: string[] = [];
  const log: Log = { debug: (m) => void lines.push(m), info: (m) => void lines.push(m), warn: (m) => void lines.push(m), error: (m) => void lines.push(m) };
  return { log, lines } as unknown as RunContext & { lines: string[] };
}

describe('without the native addon (BT_NATIVE=0)', () => {
  const saved = process.env.BT_NATIVE;
  beforeAll(() => {
    process.env.BT_NATIVE = '0';
  });
  afterAll(() => {
    if (saved === undefined) delete process.env.BT_NATIVE;
    else process.env.BT_NATIVE = saved;
  });

  it('auto falls back to wasm and says why native was skipped (at the debug level, shown with -v)', async () => {
    const c = ctx();
    const backend = await componentsOf(tfjsPlugin).get('auto')!.create({}, c);
    expect(backend.info.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(c.lines.join('\n')).toMatch(/native: disabled by BT_NATIVE=0/);
  });

  it('backend "native" fails with the reason and how to build it', async () => {
    await expect(useNativeBackend()).rejects.toThrow(/disabled by BT_NATIVE=0/);
    await expect(componentsOf(nativePlugin).get('native')!.create({ threads: 0 }, ctx())).rejects.toMatchObject({
      code: 'BACKEND_UNAVAILABLE',
      message: expect.stringMatching(/backend "native" was requested but disabled by BT_NATIVE=0/),
      hint: expect.stringMatching(/libopenblas-dev.*npm run build:native/),
    });
  });
});

describe('chooseThreads', () => {
  const config = 'OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Zen MAX_THREADS=64';
  it('takes the option, else BT_NATIVE_THREADS, else every core, within the cores and OpenBLAS MAX_THREADS', () => {
    expect(chooseThreads(3, '5', 8, config)).toBe(3);
    expect(chooseThreads(0, '5', 8, config)).toBe(5);
    expect(chooseThreads(undefined, undefined, 8, config)).toBe(8);
    expect(chooseThreads(16, undefined, 8, config)).toBe(8);
    expect(chooseThreads(undefined, undefined, 128, config)).toBe(64);
    expect(chooseThreads(undefined, undefined, 128, 'OpenBLAS 0.3.26 Haswell')).toBe(128);
  });
});

describe('an addon compiled on another CPU', () => {
  it('is refused, naming both vector extensions and the rebuild command, when it needs a wider one than this CPU has', () => {
    expect(builtForOtherCpu('AVX-512', 'AVX2')).toBe("addon compiled for AVX-512, but this CPU's widest vector extension is AVX2 (it was built on another CPU); rebuild it here with `npm run build:native`");
    expect(builtForOtherCpu('AVX2', 'AVX-512')).toBeUndefined();
    expect(builtForOtherCpu('AVX2', 'AVX2')).toBeUndefined();
    // Unknown on either side (an addon from before it reported this, not Linux): loaded as before.
    expect(builtForOtherCpu(undefined, 'AVX2')).toBeUndefined();
    expect(builtForOtherCpu('AVX-512', undefined)).toBeUndefined();
  });
});
