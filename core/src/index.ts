export { run, openSession, loadRunConfig, type RunOptions, type RunResult } from './run.js';
export { createHooks } from './hooks.js';
export { configJsonSchema } from './config/jsonSchema.js';
export { checkStages, resolveRun, type ResolvedRun } from './resolve.js';
export { withComponentDefaults } from './config/componentDefaults.js';
