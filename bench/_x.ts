import * as tf from '@tensorflow/tfjs';
import { barlowTwinsStep } from './backend.bench.js';
const { useWebGpuBackend, countGpuWork } = await import('@bt-platform/plugin-backend-webgpu');
await useWebGpuBackend({ dawnFlags: ['backend=null'] });
const counter = countGpuWork();
const run = await barlowTwinsStep({ title: 't', backbone: { plugin: 'resnet', component: 'resnet18', options: {} }, image: 64, batch: 2, projector: 512 } as any);
for (let i = 0; i < 6; i++) { const t = performance.now(); run.step(); const w = counter.snapshot(); console.log(i, w.dispatches, w.bindGroups, Math.round(performance.now() - t), Object.entries(w.programs).sort((a, b) => b[1] - a[1]).slice(0, 6).map(([k, v]) => k + ' ' + v).join(', ')); }
