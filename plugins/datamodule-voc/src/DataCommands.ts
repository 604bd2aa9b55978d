import path from 'node:path';
import { ConfigError, type CommandDefinition } from '@bt-platform/sdk';
import { downloadVoc, VOC_TRAINVAL_MD5, VOC_TRAINVAL_URL } from './VocDownload.js';
import { vocSynthOptions } from './VocOptions.js';
import { synthesizeVoc } from './VocSynth.js';

function integer(options: Record<string, unknown>, key: string, flag: string): number {
  const value = Number(options[key]);
  if (!Number.isInteger(value) || value < 0) {
    throw new ConfigError('CONFIG_INVALID', `${flag} must be a non-negative integer, got ${JSON.stringify(options[key])}.`, { hint: `e.g. ${flag} 64` });
  }
  return value;
}

function outDir(options: Record<string, unknown>, cwd: string): string {
  if (typeof options.out !== 'string' || options.out.length === 0) {
    throw new ConfigError('CONFIG_INVALID', 'Missing --out <dir>.', { hint: 'Name the directory to write the data set into, e.g. --out data/voc.' });
  }
  return path.resolve(cwd, options.out);
}

const synthDefaults = vocSynthOptions.parse({});

/** `bt-platform data synth --out DIR [--images N --seed S --min-size PX --max-size PX]` */
export const synthCommand: CommandDefinition = {
  name: 'data synth',
  description: 'Write a small synthetic data set in the PASCAL VOC 2012 layout (JPEG images, palette PNG masks, split files).',
  options: [
    { flags: '--out <dir>', description: 'directory to write (VOCdevkit/VOC2012 is created inside)', required: true },
    { flags: '--images <n>', description: 'number of images', default: String(synthDefaults.images) },
    { flags: '--seed <n>', description: 'random seed', default: String(synthDefaults.seed) },
    { flags: '--min-size <px>', description: 'smallest image side', default: String(synthDefaults.minSize) },
    { flags: '--max-size <px>', description: 'largest image side', default: String(synthDefaults.maxSize) },
  ],
  async run(_args, options, ctx) {
    const out = outDir(options, ctx.cwd);
    const settings = vocSynthOptions.safeParse({
      images: integer(options, 'images', '--images'),
      seed: integer(options, 'seed', '--seed'),
      minSize: integer(options, 'minSize', '--min-size'),
      maxSize: integer(options, 'maxSize', '--max-size'),
    });
    if (!settings.success) {
      throw new ConfigError('CONFIG_INVALID', `Invalid data synth options: ${settings.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}.`, {
        hint: 'At least 2 images; sides of at least 16 pixels.',
      });
    }
    const result = await synthesizeVoc(out, settings.data);
    ctx.log.info(`Wrote ${settings.data.images} images (${result.train.length} train, ${result.val.length} val) to ${result.vocDir}; set data.root to ${out}.`);
  },
};

/** `bt-platform data download voc --out DIR` */
export const downloadCommand: CommandDefinition = {
  name: 'data download voc',
  description: 'Download PASCAL VOC 2012 train/val (about 2 GB), resumably, verify its checksum and unpack it.',
  options: [
    { flags: '--out <dir>', description: 'directory to download and unpack into', required: true },
    { flags: '--url <url>', description: 'tar to download (default: $BT_VOC_URL or the official VOC 2012 train/val tar)' },
    { flags: '--md5 <hash>', description: 'expected MD5 of the tar (default: $BT_VOC_MD5 or the official checksum)' },
    { flags: '--keep-tar', description: 'keep the tar after unpacking', default: false },
  ],
  async run(_args, options, ctx) {
    await downloadVoc({
      out: outDir(options, ctx.cwd),
      url: stringOption(options.url) ?? process.env.BT_VOC_URL ?? VOC_TRAINVAL_URL,
      md5: stringOption(options.md5) ?? process.env.BT_VOC_MD5 ?? VOC_TRAINVAL_MD5,
      keepTar: options.keepTar === true,
      log: ctx.log,
    });
  },
};

function stringOption(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}
