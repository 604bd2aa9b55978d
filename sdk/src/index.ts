export * from './errors.js';
export * from './rng.js';
export * from './fs.js';
export * from './safetensors.js';
export * from './stage.js';
export * from './hooks.js';
export * from './components.js';
export * from './slots.js';
export * from './module.js';
export * from './checkpoint.js';
export * from './log.js';
export * from './plugin.js';
export * from './config.js';
export * from './secrets.js';
export * from './cpu.js';
export * from './weights/index.js';
export { z } from 'zod';
// The tensor library itself: plugins import it from here, so one copy of tfjs (and its kernel registry) serves the whole run.
export * as tf from '@tensorflow/tfjs';
