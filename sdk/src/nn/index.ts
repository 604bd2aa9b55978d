// Standard layers over the SDK's Module, with PyTorch's parameter names and layouts, shared by model plugins.
export * from './initializers.js';
export * from './Linear.js';
export * from './Conv2d.js';
export * from './BatchNorm.js';
export * from './LayerNorm.js';
export * from './Identity.js';
export * from './upsampleBilinear.js';
export * from './loadWeights.js';
export * from './resolveHeadContext.js';
export * from './gelu.js';
export * from './softmax.js';
export * from './attention.js';
export * from './fusedKernel.js';
export * from './checkpointActivations.js';
