import * as tf from '@tensorflow/tfjs';
import { reuseBindGroups, useWebGpuBackend, type WebGpuBackendLike } from '@bt-platform/plugin-backend-webgpu';

const unavailable = await useWebGpuBackend({ allowSoftware: true }).then(
  () => undefined,
  (error: Error) => error.message,
);
if (unavailable) console.warn(`backend-webgpu bind group tests skipped: ${unavailable}`);
const describeWebGpu = unavailable ? describe.skip : describe;

const usage = () => (globalThis as unknown as { GPUBufferUsage: { STORAGE: number; COPY_SRC: number; COPY_DST: number } }).GPUBufferUsage;

interface Device {
  createBindGroupLayout(descriptor: object): object;
  createBindGroup(descriptor: object): object;
}

describeWebGpu('the webgpu backend reuses buffers and bind groups (BindGroupReuse)', () => {
  it('hands out the free buffer it created first, whatever the order of releases', async () => {
    await useWebGpuBackend({ allowSoftware: true });
    const { bufferManager } = tf.backend() as WebGpuBackendLike;
    const flags = usage().STORAGE | usage().COPY_SRC | usage().COPY_DST;
    const size = 4 * 1237; // a size nothing else uses
    const [a, b, c] = [0, 1, 2].map(() => bufferManager.acquireBuffer(size, flags));
    for (const buffer of [c, a, b]) bufferManager.releaseBuffer(buffer);
    // tfjs's own pool would give b, a, c (last released first).
    const again = [0, 1, 2].map(() => bufferManager.acquireBuffer(size, flags));
    expect(again.map((buffer) => [a, b, c].indexOf(buffer))).toEqual([0, 1, 2]);
    for (const buffer of again) bufferManager.releaseBuffer(buffer);
  });

  it('gives the same bind group for the same layout and buffer ranges, and a new one otherwise', async () => {
    await useWebGpuBackend({ allowSoftware: true });
    const backend = tf.backend() as WebGpuBackendLike & { device: Device };
    const flags = usage().STORAGE | usage().COPY_SRC | usage().COPY_DST;
    const layout = backend.device.createBindGroupLayout({ entries: [{ binding: 0, visibility: 4 /* COMPUTE */, buffer: { type: 'storage' } }] });
    const [x, y] = [0, 1].map(() => backend.bufferManager.acquireBuffer(512, flags));
    const group = (buffer: object, offset = 0) => backend.device.createBindGroup({ layout, entries: [{ binding: 0, resource: { buffer, offset, size: 256 } }] });
    const first = group(x);
    expect(group(x)).toBe(first);
    expect(group(y)).not.toBe(first);
    expect(group(x, 256)).not.toBe(first);
    for (const buffer of [x, y]) backend.bufferManager.releaseBuffer(buffer);
  });
});

describe('reuseBindGroups on a stand-in device', () => {
  class FakeDevice {
    created = 0;
    createBindGroup(descriptor: { entries: Array<{ resource: unknown }> }) {
      this.created++;
      return { descriptor };
    }
    createBuffer({ size, usage }: { size: number; usage: number }) {
      return { size, usage, destroy() {} };
    }
  }
  class FakeQueue {
    writes: number[][] = [];
    writeBuffer(_buffer: object, _offset: number, data: ArrayBuffer, dataOffset = 0, size?: number) {
      this.writes.push(Array.from(new Uint8Array(data, dataOffset, size)));
    }
  }
  const setUp = (limit = 8) => {
    const device = new FakeDevice();
    const queue = new FakeQueue();
    const backend = { device, queue, bufferManager: {} } as unknown as WebGpuBackendLike & { queue: FakeQueue };
    reuseBindGroups(backend, limit);
    return { device, queue, pool: backend.bufferManager };
  };
  const layout = {};
  const buffers = [{}, {}, {}];
  const groupOf = (device: FakeDevice, i: number) => device.createBindGroup({ layout, entries: [{ binding: 0, resource: { buffer: buffers[i] } }] } as never);

  it('starts its cache again beyond its limit', () => {
    const { device } = setUp(2);
    const first = groupOf(device, 0);
    groupOf(device, 1);
    expect(groupOf(device, 0)).toBe(first);
    groupOf(device, 2); // a third one: the cache forgets the first two
    expect(device.created).toBe(3);
    expect(groupOf(device, 0)).not.toBe(first);
    expect(device.created).toBe(4);
    expect(groupOf(device, 2)).toBe(groupOf(device, 2));
    expect(device.created).toBe(4);
  });

  it('passes entries that are not buffers (textures, samplers) through uncached', () => {
    const { device } = setUp();
    const view = {};
    const a = device.createBindGroup({ layout, entries: [{ binding: 0, resource: view }] } as never);
    const b = device.createBindGroup({ layout, entries: [{ binding: 0, resource: view }] } as never);
    expect(a).not.toBe(b);
    expect(device.created).toBe(2);
  });

  it('skips a uniform write of the bytes the buffer already holds, and no other write', () => {
    const { queue, pool } = setUp();
    const uniform = pool.acquireBuffer(8, 0x40 | 0x08); // UNIFORM | COPY_DST
    const storage = pool.acquireBuffer(8, 0x80 | 0x08); // STORAGE | COPY_DST
    const bytes = (...values: number[]) => new Uint32Array(values).buffer;
    for (const data of [bytes(1, 2), bytes(1, 2), bytes(1, 3), bytes(1, 2), bytes(1, 2)]) queue.writeBuffer(uniform, 0, data, 0, 8);
    expect(queue.writes.map((w) => w[4])).toEqual([2, 3, 2]);
    queue.writes = [];
    for (let i = 0; i < 2; i++) queue.writeBuffer(storage, 0, bytes(1, 2), 0, 8);
    expect(queue.writes).toHaveLength(2);
  });
});
