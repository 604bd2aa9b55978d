import { definePlugin, Slots } from '@bt-platform/sdk';
import { syncCommand } from './SyncCommand.js';
import { WandbLogger } from './WandbLogger.js';
import { WandbOptions } from './WandbOptions.js';

export { WandbLogger, resolveMode } from './WandbLogger.js';
export { WandbJournal } from './WandbJournal.js';
export { WandbOptions } from './WandbOptions.js';
export { syncRun } from './SyncCommand.js';

export default definePlugin({
  name: 'logger-wandb',
  description: 'Weights & Biases logger: config, scalars and images; offline journal in the run directory and `bt-platform sync`.',
  register(registrar) {
    registrar.component(Slots.logger, {
      name: 'wandb',
      description: 'Logs the config, every scalar and every image to wandb, in the background; offline runs are uploaded later with `bt-platform sync RUN_DIR`.',
      options: WandbOptions,
      create: (options, ctx) => new WandbLogger(options, ctx),
    });
  },
  commands: [syncCommand],
});
