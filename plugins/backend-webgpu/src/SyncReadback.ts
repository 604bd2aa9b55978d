import { BtError } from '@bt-platform/sdk';

/**
 * Synchronous waits on Dawn's Node binding. The platform reads losses and metrics with
 * `dataSync()`; tfjs-backend-webgpu implements that with `OffscreenCanvas`, which Node lacks, and
 * WebGPU itself only maps buffers asynchronously. Dawn's binding completes its promises by calling
 * `wgpuInstanceProcessEvents` from a `setImmediate` callback it schedules (a native function); this
 * module keeps a handle on those callbacks so that a wait can run them at once, in a loop, until the
 * mapping is done — the event loop never has to turn.
 */

type Immediate = typeof globalThis.setImmediate;

const pendingPolls = new Set<() => void>();
let installed = false;

function isNativeFunction(fn: unknown): fn is () => void {
  return typeof fn === 'function' && fn.name === '' && Function.prototype.toString.call(fn).endsWith('{ [native code] }');
}

/**
 * Must run before Dawn's first asynchronous call (i.e. before `create`); idempotent. `realm` is the
 * global object Dawn sees, which differs from `globalThis` inside a vm sandbox such as jest's.
 */
export function interceptDawnPolling(realm: typeof globalThis): void {
  if (installed) return;
  installed = true;
  const real = realm.setImmediate;
  const intercepting = function (this: unknown, callback: (...args: unknown[]) => void, ...args: unknown[]) {
    if (args.length > 0 || !isNativeFunction(callback)) return real(callback, ...args);
    const poll = () => {
      if (pendingPolls.delete(poll)) callback();
    };
    pendingPolls.add(poll);
    return real(poll);
  };
  // Keeps util.promisify(setImmediate) and the like working.
  Object.defineProperties(intercepting, Object.getOwnPropertyDescriptors(real));
  realm.setImmediate = intercepting as unknown as Immediate;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * Runs Dawn's pending event polls until `done()`; between rounds the thread sleeps a little, so
 * a long GPU computation does not keep a CPU core spinning.
 */
export function waitSync(done: () => boolean, what: string, timeoutMs = 30 * 60_000): void {
  const deadline = Date.now() + timeoutMs;
  let idleRounds = 0;
  while (!done()) {
    const polls = [...pendingPolls];
    for (const poll of polls) poll();
    if (done()) return;
    if (Date.now() > deadline) throw new Error(`${what} did not complete within ${Math.round(timeoutMs / 1000)} s`);
    idleRounds = polls.length ? idleRounds + 1 : idleRounds + 10;
    Atomics.wait(sleeper, 0, 0, Math.min(2, 0.02 * idleRounds));
  }
}

/** The minimal buffer surface used here (a `GPUBuffer` from Dawn). */
interface MappableBuffer {
  readonly mapState: 'unmapped' | 'pending' | 'mapped';
  mapAsync(mode: number): Promise<void>;
  getMappedRange(): ArrayBuffer;
  unmap(): void;
}

/** Maps `buffer` for reading and returns a copy of its contents, blocking until the GPU is done. */
export function mapReadSync(buffer: MappableBuffer, mapModeRead: number): ArrayBuffer {
  // A failed mapping leaves the buffer unmapped; its rejection (a microtask) cannot run during the wait.
  buffer.mapAsync(mapModeRead).catch(() => {});
  waitSync(() => buffer.mapState !== 'pending', 'reading a tensor back from the GPU');
  if (buffer.mapState !== 'mapped') {
    throw new BtError('RUNTIME', 'Reading a tensor back from the GPU failed: the WebGPU device was lost.', {
      hint: 'A driver reset or a GPU fault ends the device; the last checkpoint is intact: resume with `--resume <run>/checkpoints/last.safetensors` (on `backend: { use: wasm }` if it happens again).',
    });
  }
  const values = buffer.getMappedRange().slice(0);
  buffer.unmap();
  return values;
}
