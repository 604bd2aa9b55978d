import { useWebGpuBackend } from '@bt-platform/plugin-backend-webgpu';
import { families, trace, type Trace } from './steps.js';

/**
 * Real WebGPU (Dawn) on whatever adapter exists; on a machine without a GPU that is Mesa's lavapipe
 * (`.ci/run` installs it). The first step of each model compiles its shaders: on lavapipe, tens of
 * seconds unless Mesa's shader cache already holds them.
 */
const unavailable = await useWebGpuBackend({ allowSoftware: true }).then(
  () => undefined,
  (error: Error) => error.message,
);
if (unavailable) console.warn(`backend-webgpu training tests skipped: ${unavailable}`);
const describeWebGpu = unavailable ? describe.skip : describe;

const STEPS = 4;

/** max |a − e| / max |e| over a whole array. */
function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return diff / (scale || 1);
}

describeWebGpu.each(Object.entries(families))('%s on webgpu', (_name, build) => {
  let cpu: Trace;
  let gpu: Trace;
  beforeAll(async () => {
    cpu = await trace('cpu', build, STEPS);
    gpu = await trace('webgpu', build, STEPS);
  }, 600_000);

  it('gives the cpu backend’s losses to 1e-4 and they fall', () => {
    expect(cpu.losses[STEPS - 1]).toBeLessThan(cpu.losses[0]);
    gpu.losses.forEach((loss, i) => expect({ step: i, error: relativeError([loss], [cpu.losses[i]]) < 1e-4 }).toEqual({ step: i, error: true }));
  });

  // Weights only: a parameter whose true gradient is zero (attention's key bias) gets Adam steps of
  // ±lr from rounding noise, which differ between any two backends.
  it('ends with the cpu backend’s weights to 1e-4 (first, middle and last)', () => {
    const names = Object.keys(cpu.parameters).filter((name) => name.endsWith('.weight'));
    const checked = [names[0], names[Math.floor(names.length / 2)], names[names.length - 1]];
    for (const name of checked) expect({ name, error: relativeError(gpu.parameters[name], cpu.parameters[name]) < 1e-4 }).toEqual({ name, error: true });
  });

  it('compiles its shaders in the first step and none after it', () => {
    expect(gpu.firstPipelines).toBeGreaterThan(10);
    expect(gpu.latePipelines).toBe(0);
  });

  // BindGroupReuse: the same ops get the same buffers each step (Adam and the batch-norm running
  // statistics update in place), so from the third step on every bind group comes from the cache.
  it('makes no new bind group once the steps repeat', () => {
    expect(gpu.bindGroups[0]).toBeGreaterThan(0.9 * gpu.dispatches[0]);
    expect(gpu.bindGroups.slice(2)).toEqual(gpu.bindGroups.slice(2).map(() => 0));
  });

  it('keeps the live tensors and the GPU buffers flat across steps', () => {
    expect(new Set(gpu.tensors).size).toBe(1);
    expect(new Set(gpu.buffers.map(([used]) => used)).size).toBe(1);
    expect(new Set(gpu.buffers.map(([used, free]) => used + free)).size).toBe(1);
  });
});
