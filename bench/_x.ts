import * as tf from '@tensorflow/tfjs';
import { barlowTwinsStep } from './backend.bench.js';
const { useWebGpuBackend } = await import('@bt-platform/plugin-backend-webgpu');
await useWebGpuBackend({ dawnFlags: ['backend=null'] });
const run = await barlowTwinsStep({ title: 't', backbone: { plugin: 'vit', component: 'vit', options: { variant: 'tiny/16', imageSize: 64 } }, image: 64, batch: 2, projector: 512 } as any);
run.step(); run.step();
const b = tf.backend() as any;
const orig = b.runWebGPUProgram;
const counts = new Map<string, number>();
b.runWebGPUProgram = function (program: any, inputs: any[], ...rest: any[]) {
  const name = program.constructor.name;
  if (true) {
    const key = `${name} ${program.op ?? program.reduceType ?? ''} ${program.outputShape} <- ${inputs.map((i: any) => '[' + i.shape + ']').join(' ')}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return orig.call(this, program, inputs, ...rest);
};
run.step();
for (const [k, v] of [...counts].sort((a, b) => b[1] - a[1]).slice(0, 45)) console.log(v, k.slice(0, 200));
