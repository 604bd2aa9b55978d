import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { BtError } from '@bt-platform/sdk';
import webgpuPlugin, { classifyAdapter, describeAdapter, useWebGpuBackend, webGpuOptions, WebGpuUnavailable } from '@bt-platform/plugin-backend-webgpu';
import { components } from '../../fixtures/models/modelTesting.js';

describe('classifyAdapter', () => {
  it('tells a real GPU from a software renderer and from Dawn’s null device', () => {
    expect(classifyAdapter({ vendor: 'nvidia', architecture: 'hopper', device: '', description: 'NVIDIA H200' })).toBe('hardware');
    expect(classifyAdapter({ vendor: 'amd', architecture: 'rdna-3', description: 'AMD Radeon RX 7900 XTX (RADV NAVI31)' })).toBe('hardware');
    // Mesa lavapipe as Dawn reports it.
    const lavapipe = { vendor: 'mesa', architecture: 'software', device: 'llvmpipe-llvm-15-0-6-256-bits-', description: 'llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)', isFallbackAdapter: true };
    expect(classifyAdapter(lavapipe)).toBe('software');
    expect(classifyAdapter({ ...lavapipe, isFallbackAdapter: false, architecture: '' })).toBe('software');
    expect(classifyAdapter({ vendor: 'google', description: 'SwiftShader Device (Subzero)' })).toBe('software');
    expect(classifyAdapter({ vendor: 'nvidia', isFallbackAdapter: true })).toBe('software');
    expect(classifyAdapter({ vendor: '', device: 'null-backend' })).toBe('null');
  });

  it('names the adapter in one line', () => {
    expect(describeAdapter({ vendor: 'nvidia', architecture: 'hopper', description: 'NVIDIA H200' })).toBe('nvidia hopper (NVIDIA H200)');
    expect(describeAdapter({ device: 'null-backend' })).toBe('unknown vendor (null-backend)');
  });
});

describe('the webgpu component', () => {
  it('is registered with its options and their defaults', () => {
    expect([...components(webgpuPlugin).keys()]).toEqual(['backend:webgpu']);
    expect(webGpuOptions.parse({})).toEqual({ allowSoftware: false, powerPreference: 'high-performance', fusedKernels: true });
    expect(() => webGpuOptions.parse({ allowSofware: true })).toThrow();
  });
});

/** Mesa's lavapipe Vulkan driver: a software adapter any machine can be forced onto with VK_ICD_FILENAMES. */
function lavapipeIcd(): string | undefined {
  for (const dir of ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d']) {
    const file = existsSync(dir) ? readdirSync(dir).find((f) => /^lvp_icd.*\.json$/.test(f)) : undefined;
    if (file) return path.join(dir, file);
  }
  return undefined;
}

const dawnLoads = await import('webgpu' as string).then(
  () => true,
  () => false,
);
const lvp = lavapipeIcd();
if (!dawnLoads) console.warn('backend-webgpu CLI tests skipped: the optional package `webgpu` is not installed');
else if (!lvp) console.warn('backend-webgpu software-adapter tests skipped: Mesa lavapipe (mesa-vulkan-drivers) is not installed');

/** Runs `bt-platform run` on the toy task with the given backend section and Vulkan driver list. */
function runCli(backend: string, icd: string, extraArgs: string[] = []): Promise<{ code: number; stderr: string }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bt-webgpu-'));
  const config = [
    "plugins: ['@bt-platform/sdk/testing']",
    `backend: ${backend}`,
    'data: { use: toy, samples: 8, valSamples: 4 }',
    'task: { use: toy-regression }',
    'optimizer: { use: sgd, lr: 0.05 }',
    'trainer: { maxEpochs: 1 }',
    `runDir: ${JSON.stringify(path.join(dir, 'runs'))}`,
  ].join('\n');
  writeFileSync(path.join(dir, 'config.yaml'), config);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.resolve('core/bin/bt-platform.js'), 'run', '-c', 'config.yaml', ...extraArgs], {
      cwd: dir,
      env: { ...process.env, NODE_OPTIONS: '', VK_ICD_FILENAMES: icd, BT_NATIVE: '0' },
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code: code ?? -1, stderr }));
  });
}

(dawnLoads ? describe : describe.skip)('errors the device reports', () => {
  // Dawn's null device holds at most 512 MB of buffers: the fifth 120 MB tensor does not fit.
  it('an out-of-memory is a clear error at the next read, not garbage', async () => {
    await useWebGpuBackend({ dawnFlags: ['backend=null'] });
    const tensors = [0, 1, 2, 3, 4].map(() => tf.fill([30_000_000], 1));
    const error = (() => {
      try {
        tf.tidy(() => tf.sum(tensors[4]).dataSync());
      } catch (e) {
        return e;
      }
    })();
    tf.dispose(tensors);
    expect(error).toBeInstanceOf(BtError);
    expect(error).toMatchObject({ code: 'RUNTIME', message: expect.stringContaining('The GPU ran out of memory'), hint: expect.stringContaining('batchSize') });
  });
});

(dawnLoads ? describe : describe.skip)('when Dawn cannot list adapters', () => {
  it('says why and how to fix it instead of a raw Dawn error', async () => {
    const error = await useWebGpuBackend({ dawnFlags: ['adapter=no-such-gpu'] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WebGpuUnavailable);
    expect(error).toMatchObject({ reason: 'Dawn could not list the GPU adapters: no suitable backends found', fix: expect.stringContaining('Vulkan ICD') });
  });
});

(dawnLoads ? describe : describe.skip)('without any Vulkan driver', () => {
  it('`use: webgpu` fails with exit 2 naming the missing Vulkan ICD and the container setting', async () => {
    const { code, stderr } = await runCli('{ use: webgpu }', '/nonexistent/icd.json');
    expect(stderr).toContain('error[BACKEND_UNAVAILABLE]');
    expect(stderr).toContain('backend "webgpu" was requested but Dawn found no GPU adapter');
    expect(stderr).toContain('nvidia_icd.json');
    expect(stderr).toContain('NVIDIA_DRIVER_CAPABILITIES');
    expect(code).toBe(2);
  });
});

(dawnLoads && lvp ? describe : describe.skip)('with only a software adapter (lavapipe)', () => {
  it('`use: webgpu` refuses it with exit 2 and says how to accept it', async () => {
    const { code, stderr } = await runCli('{ use: webgpu }', lvp!);
    expect(stderr).toContain('backend "webgpu" was requested but the only WebGPU adapter is a software renderer');
    expect(stderr).toContain('llvmpipe');
    expect(stderr).toContain('allowSoftware: true');
    // Dawn's own driver warnings stay in the child process that looked at the adapter.
    expect(stderr).not.toContain('artificially reduced');
    expect(code).toBe(2);
  });

  it('`use: auto` skips it, says why (with -v) and trains on the next backend', async () => {
    const { code, stderr } = await runCli('{ use: auto }', lvp!, ['-v']);
    expect(stderr).toMatch(/backend: wasm \(cpu, 1 thread; picked by auto, 4 skipped\)/);
    expect(stderr).toMatch(/picked by auto: .*; skipped webgpu: the only WebGPU adapter is a software renderer, mesa software \(llvmpipe/);
    expect(stderr).not.toContain('artificially reduced');
    expect(code).toBe(0);
  });

  it('`use: webgpu, allowSoftware: true` trains on it and reports the device honestly', async () => {
    const { code, stderr } = await runCli('{ use: webgpu, allowSoftware: true }', lvp!);
    expect(stderr).toMatch(/backend: webgpu \(cpu, llvmpipe: Mesa .*; requested in the config\)/);
    expect(stderr).toContain('warn: backend webgpu runs on a software adapter');
    expect(code).toBe(0);
  });
});
