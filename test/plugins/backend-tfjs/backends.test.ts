import * as tf from '@tensorflow/tfjs';
import type { Backend, ComponentDefinition, Log, RunContext } from '@bt-platform/sdk';
import plugin, { pickBackend } from '@bt-platform/plugin-backend-tfjs';
import { loadAddon } from '@bt-platform/plugin-backend-native';

function recordingLog(): Log & { lines: string[] } {
  const lines: string[] = [];
  const push = (level: string) => (m: string) => void lines.push(`${level}: ${m}`);
  return { lines, debug: push('debug'), info: push('info'), warn: push('warn'), error: push('error') };
}

function components(): Map<string, ComponentDefinition<Backend>> {
  const defs = new Map<string, ComponentDefinition<Backend>>();
  plugin.register!({ component: (_slot, def) => void defs.set(def.name, def as unknown as ComponentDefinition<Backend>) }, {});
  return defs;
}

const ctx = (log: Log) => ({ log }) as unknown as RunContext;

describe('backend-tfjs components', () => {
  it('registers auto, tensorflow, wasm and cpu', () => {
    expect([...components().keys()].sort()).toEqual(['auto', 'cpu', 'tensorflow', 'wasm']);
  });

  it('fails clearly, with the install command, when tensorflow is requested and tfjs-node is absent', async () => {
    const create = components().get('tensorflow')!.create({}, ctx(recordingLog()));
    await expect(create).rejects.toMatchObject({
      code: 'BACKEND_UNAVAILABLE',
      exitCode: 2,
      message: expect.stringMatching(/@tensorflow\/tfjs-node-gpu: not installed; @tensorflow\/tfjs-node: not installed/),
      hint: expect.stringMatching(/npm install @tensorflow\/tfjs-node/),
    });
  });

  it('auto picks the first backend that loads and logs why the others were skipped', async () => {
    const log = recordingLog();
    const backend = await components().get('auto')!.create({}, ctx(log));
    // native when its addon is built (and tfjs-node is absent, as here), else wasm.
    expect(backend.info.name).toBe(loadAddon().addon ? 'native' : 'wasm');
    expect(tf.getBackend()).toBe('wasm');
    // One short line: backend, device, the native kernels' vector extension, threads; why and what
    // was skipped at debug level (-v).
    const line = log.lines.find((l) => l.startsWith('info: backend:'))!;
    if (backend.info.name === 'native') {
      expect(line).toMatch(new RegExp(`^info: backend: native \\(cpu, ${loadAddon().addon!.info().vectorExtension} kernels, \\d+ threads?; picked by auto, \\d skipped\\)$`));
    } else {
      expect(line).toMatch(/^info: backend: wasm \(cpu, 1 thread; picked by auto, \d skipped\)$/);
    }
    const details = log.lines.find((l) => l.startsWith('debug: backend '))!;
    // webgpu first: skipped here, where there is no hardware adapter.
    expect(details).toMatch(/skipped webgpu: [^;]+; @tensorflow\/tfjs-node-gpu: not installed; @tensorflow\/tfjs-node: not installed/);
    if (backend.info.name === 'wasm') expect(details).toMatch(/native: /);
  });

  it('initialises wasm and cpu on request', async () => {
    const defs = components();
    for (const name of ['cpu', 'wasm']) {
      const log = recordingLog();
      const backend = await defs.get(name)!.create({}, ctx(log));
      expect(backend.info).toMatchObject({ name, device: 'cpu' });
      expect(log.lines[0]).toBe(`info: backend: ${name} (cpu, 1 thread; requested in the config)`);
      expect(tf.getBackend()).toBe(name);
    }
  });
});

describe('pickBackend', () => {
  it('keeps the order, reports each skipped reason and throws when nothing loads', async () => {
    const log = recordingLog();
    const info = await pickBackend(
      [
        { name: 'a', load: () => Promise.reject(new Error("Cannot find module 'a'")) },
        { name: 'b', load: () => Promise.reject(new Error('addon not built: no BLAS\nmore')) },
        { name: 'c', load: () => Promise.resolve({ name: 'c', device: 'cpu', detail: 'fine' }) },
        { name: 'd', load: () => Promise.resolve({ name: 'd', device: 'cpu', detail: 'never tried' }) },
      ],
      log,
    );
    expect(info.name).toBe('c');
    expect(info.detail).toBe('picked by auto: fine; skipped a: not installed; b: addon not built: no BLAS');
    expect(log.lines).toEqual(['info: backend: c (cpu; picked by auto, 2 skipped)', `debug: backend c: ${info.detail}`]);
    await expect(pickBackend([{ name: 'x', load: () => Promise.reject(new Error('broken')) }], log)).rejects.toThrow(/x: broken/);
  });
});
