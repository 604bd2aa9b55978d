import { classifyDlopenError, judgeGpu, type GpuEvidence } from '@bt-platform/plugin-backend-tfjs';

const gpuPackage = (over: Partial<GpuEvidence>): GpuEvidence => ({
  packageName: '@tensorflow/tfjs-node-gpu',
  isGpuPackage: true,
  libraries: { 'libcudart.so.11.0': null, 'libcublas.so.11': null, 'libcudnn.so.8': null },
  ...over,
});

describe('judgeGpu', () => {
  it('reports a GPU when libtensorflow uses a GPU device', () => {
    expect(judgeGpu(gpuPackage({ isUsingGpuDevice: true }))).toEqual({ device: 'gpu' });
  });

  it('warns with the CUDA 11.2 / cuDNN 8.1 fix when the CUDA 11 libraries are missing (CUDA 12 machine)', () => {
    const verdict = judgeGpu(
      gpuPackage({
        isUsingGpuDevice: false,
        libraries: { 'libcudart.so.11.0': 'not found', 'libcublas.so.11': 'not found', 'libcudnn.so.8': null },
        ldLibraryPath: '/usr/local/cuda-12.4/lib64',
      }),
    );
    expect(verdict.device).toBe('cpu');
    expect(verdict.warning).toMatch(/NOT using a GPU/);
    expect(verdict.warning).toMatch(/libcudart\.so\.11\.0 \(not found\)/);
    expect(verdict.warning).not.toMatch(/libcudnn\.so\.8 \(/);
    expect(verdict.warning).toMatch(/CUDA 11\.2 and cuDNN 8\.1/);
    expect(verdict.warning).toMatch(/LD_LIBRARY_PATH \(now: \/usr\/local\/cuda-12\.4\/lib64\)/);
  });

  it('names CUDA_VISIBLE_DEVICES when it hides the GPUs', () => {
    const verdict = judgeGpu(gpuPackage({ isUsingGpuDevice: false, cudaVisibleDevices: '-1' }));
    expect(verdict.device).toBe('cpu');
    expect(verdict.warning).toMatch(/CUDA_VISIBLE_DEVICES="-1"/);
  });

  it('says no GPU device was found when the libraries load but none is listed', () => {
    const verdict = judgeGpu(gpuPackage({ isUsingGpuDevice: false }));
    expect(verdict.device).toBe('cpu');
    expect(verdict.warning).toMatch(/found no GPU device/);
  });

  it('falls back to the libraries when the backend does not say which device it uses', () => {
    expect(judgeGpu(gpuPackage({})).device).toBe('gpu');
    expect(judgeGpu(gpuPackage({ libraries: { 'libcudnn.so.8': 'not found' } })).device).toBe('cpu');
  });

  it('never warns for the CPU package', () => {
    expect(judgeGpu({ packageName: '@tensorflow/tfjs-node', libraries: { 'libcudart.so.11.0': 'not found' } })).toEqual({ device: 'cpu' });
  });
});

describe('classifyDlopenError', () => {
  it('treats "not a Node module" as loaded and a missing file as not found', () => {
    expect(classifyDlopenError(new Error('Module did not self-register: /usr/lib/libcudart.so.11.0.'))).toBeNull();
    expect(classifyDlopenError(new Error('libcudnn.so.8: cannot open shared object file: No such file or directory'))).toBe('not found');
    expect(classifyDlopenError(new Error('libfoo.so: wrong ELF class: ELFCLASS32'))).toBe('libfoo.so: wrong ELF class: ELFCLASS32');
  });

  it('classifies the real loader errors of this machine', async () => {
    const { probeLibraries } = await import('../../../plugins/backend-tfjs/src/GpuCheck.js');
    const result = probeLibraries(['libc.so.6', 'libbt-platform-no-such-library.so.1']);
    expect(result['libc.so.6']).toBeNull();
    expect(result['libbt-platform-no-such-library.so.1']).toBe('not found');
  });
});
