import { BtError, type CommandDefinition } from '@bt-platform/sdk';
import { predict } from './predict.js';

function positiveInt(value: unknown, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new BtError('RUNTIME', `predict: ${flag} must be a positive integer, got "${value}".`, { hint: `For example ${flag} 8.`, exitCode: 2 });
  return n;
}

export const predictCommand: CommandDefinition = {
  name: 'predict',
  description: 'run a trained segmentation model on image files or directories (palette PNG masks, overlays, class areas), or write backbone embeddings (--embed)',
  options: [
    { flags: '-c, --config <file>', description: 'the config the checkpoint was trained with (default: bt-platform.config.* or .bt-platformrc* in the current directory)' },
    { flags: '--checkpoint <file>', description: 'checkpoint whose model weights are used', required: true },
    { flags: '--input <paths...>', description: 'image files (JPEG, PNG) and directories of them', required: true },
    { flags: '--out <dir>', description: 'output directory', required: true },
    { flags: '--overlay', description: 'also write <name>.overlay.png: the mask blended over the image' },
    { flags: '--embed', description: 'write the backbone\'s pooled (CLS) embedding of each image to embeddings.npy (+ embeddings.json) instead of masks' },
    { flags: '--batch-size <n>', description: 'images per forward pass', default: '8' },
    { flags: '--image-size <n>', description: 'model input side (default: the datamodule\'s imageSize)' },
    { flags: '--set <key=value...>', description: 'override config keys, e.g. --set backend.use=wasm' },
  ],
  async run(_args, options, ctx) {
    await predict(
      {
        config: options.config as string | undefined,
        checkpoint: options.checkpoint as string,
        input: options.input as string[],
        out: options.out as string,
        overlay: Boolean(options.overlay),
        embed: Boolean(options.embed),
        batchSize: positiveInt(options.batchSize, '--batch-size'),
        imageSize: positiveInt(options.imageSize, '--image-size'),
        set: (options.set as string[] | undefined) ?? [],
      },
      ctx,
    );
  },
};
