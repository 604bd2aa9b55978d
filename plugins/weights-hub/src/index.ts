import { definePlugin } from '@bt-platform/sdk';
import { downloadCommand, listCommand } from './WeightsCommands.js';

export { downloadCommand, listCommand } from './WeightsCommands.js';

/** The `weights list` and `weights download` commands; the resolving itself is the SDK's (`resolveWeights`), used by every backbone. */
export default definePlugin({
  name: 'weights-hub',
  version: '0.1.0',
  description: 'Pretrained weights by name, Hugging Face Hub reference or URL: lists the known names and fills the download cache.',
  commands: [listCommand(), downloadCommand()],
});
