export * from './knownWeights.js';
export * from './weightsSource.js';
export * from './downloadWeights.js';
export * from './resolveWeights.js';
