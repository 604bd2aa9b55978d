import { definePlugin } from '@bt-platform/sdk';
import { tuneBatchSizeCommand, tuneLrCommand } from './tuneCommands.js';

export { tuneBatchSize, tuneLr } from './tuneCommands.js';
export { lrRangeTest, type LrRangeOptions, type LrRangeResult } from './lrRangeTest.js';
export { findBatchSize, isOutOfMemory, type BatchSizeOptions, type BatchSizeResult, type BatchSizeTrial } from './batchSizeFinder.js';
export { gradient, suggestLr } from './suggestLr.js';
export { lrPlotSvg, writeLrPlot } from './LrPlot.js';
export { formatBytes, parseBytes } from './parseBytes.js';
export { BatchSource } from './BatchSource.js';
export { TrainingStep } from './TrainingStep.js';

export default definePlugin({
  name: 'tune',
  description: 'The `tune lr` (learning-rate range test) and `tune batch-size` (largest batch that fits in memory) commands.',
  commands: [tuneLrCommand, tuneBatchSizeCommand],
});
