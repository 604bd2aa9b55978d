import * as tf from '@tensorflow/tfjs';
import { BtError, definePlugin, Slots, z, type Backend, type BackendInfo, type Log } from '@bt-platform/sdk';

const NATIVE_PACKAGES = [
  { pkg: '@tensorflow/tfjs-node-gpu', device: 'gpu' as const },
  { pkg: '@tensorflow/tfjs-node', device: 'cpu' as const },
];

async function tryNative(): Promise<{ info?: BackendInfo; skipped: string[] }> {
  const skipped: string[] = [];
  for (const { pkg, device } of NATIVE_PACKAGES) {
    try {
      await import(pkg);
      await tf.setBackend('tensorflow');
      await tf.ready();
      return { info: { name: 'tensorflow', device, detail: `${pkg} loaded` }, skipped };
    } catch (error) {
      skipped.push(`${pkg}: ${firstLine(error)}`);
    }
  }
  return { skipped };
}

function firstLine(error: unknown): string {
  const message = (error as Error)?.message ?? String(error);
  return message.includes('Cannot find') ? 'not installed' : message.split('\n')[0];
}

async function useJsBackend(name: 'wasm' | 'cpu'): Promise<void> {
  if (name === 'wasm') await import('@tensorflow/tfjs-backend-wasm');
  const ok = await tf.setBackend(name);
  await tf.ready();
  if (!ok || tf.getBackend() !== name) throw new BtError('BACKEND_UNAVAILABLE', `The tfjs "${name}" backend failed to initialise.`);
}

function report(log: Log, info: BackendInfo): Backend {
  log.info(`backend: ${info.name} (${info.device}) — ${info.detail}`);
  return { info };
}

export default definePlugin({
  name: 'backend-tfjs',
  description: 'TensorFlow.js backends: tensorflow (tfjs-node / tfjs-node-gpu), wasm and cpu, and `auto` to pick the best that loads.',
  register(registrar) {
    const none = z.strictObject({});
    registrar.component(Slots.backend, {
      name: 'auto',
      description: 'The fastest backend that loads: tfjs-node-gpu, tfjs-node, wasm, then cpu.',
      options: none,
      async create(_options, ctx) {
        const native = await tryNative();
        if (native.info) return report(ctx.log, { ...native.info, detail: `${native.info.detail}${native.skipped.length ? `; skipped ${native.skipped.join('; ')}` : ''}` });
        try {
          await useJsBackend('wasm');
          return report(ctx.log, { name: 'wasm', device: 'cpu', detail: `skipped ${native.skipped.join('; ')}` });
        } catch (error) {
          await useJsBackend('cpu');
          return report(ctx.log, { name: 'cpu', device: 'cpu', detail: `skipped ${native.skipped.join('; ')}; wasm: ${firstLine(error)}` });
        }
      },
    });
    registrar.component(Slots.backend, {
      name: 'tensorflow',
      description: 'libtensorflow through @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node (must be installed).',
      options: none,
      async create(_options, ctx) {
        const native = await tryNative();
        if (!native.info) {
          throw new BtError('BACKEND_UNAVAILABLE', `backend "tensorflow" was requested but neither TensorFlow.js native package loads (${native.skipped.join('; ')}).`, {
            hint: 'Install one: `npm install @tensorflow/tfjs-node` (CPU) or `npm install @tensorflow/tfjs-node-gpu` (CUDA 11.2 + cuDNN 8.1), or set `backend: { use: auto }`.',
            exitCode: 2,
          });
        }
        return report(ctx.log, native.info);
      },
    });
    for (const name of ['wasm', 'cpu'] as const) {
      registrar.component(Slots.backend, {
        name,
        description: name === 'wasm' ? 'WebAssembly with SIMD: portable and the fastest pure-JS choice.' : 'Plain JavaScript: slow, always available.',
        options: none,
        async create(_options, ctx) {
          await useJsBackend(name);
          return report(ctx.log, { name, device: 'cpu', detail: 'requested in the config' });
        },
      });
    }
  },
});
