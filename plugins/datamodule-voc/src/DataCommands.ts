import path from 'node:path';
import { ConfigError, type CommandDefinition } from '@bt-platform/sdk';
import { downloadVoc, VOC_TRAINVAL_MD5, VOC_TRAINVAL_URL } from './VocDownload.js';
import { vocSynthOptions } from './VocOptions.js';
import { synthesizeVoc } from './VocSynth.js';

const synthDefaults = vocSynthOptions.parse({});

function integer(options: Record<string, unknown>, key: string, flag: string): number {
  const value = Number(options[key]);
  if (!Number.isInteger(value) || value < 0) {
    throw new ConfigError('CONFIG_INVALID', `${flag} must be a non-negative integer, got ${JSON.stringify(options[key])}.`, { hint: `e.g. ${flag} 64` });
  }
  return value;
}

function fraction(options: Record<string, unknown>, key: 'valFraction' | 'labelledFraction', flag: string): number {
  if (options[key] === undefined) return synthDefaults[key];
  const value = Number(options[key]);
  if (!Number.isFinite(value) || value <= 0 || value > 1) {
    throw new ConfigError('CONFIG_INVALID', `${flag} must be a number in (0, 1], got ${JSON.stringify(options[key])}.`, { hint: `e.g. ${flag} 0.25` });
  }
  return value;
}

function outDir(options: Record<string, unknown>, cwd: string): string {
  if (typeof options.out !== 'string' || options.out.length === 0) {
    throw new ConfigError('CONFIG_INVALID', 'Missing --out <dir>.', { hint: 'Name the directory to write the data set into, e.g. --out data/voc.' });
  }
  return path.resolve(cwd, options.out);
}

/** `bt-platform data synth --out DIR [--images N --seed S --min-size PX --max-size PX --val-fraction F --labelled-fraction F]` */
export const synthCommand: CommandDefinition = {
  name: 'data synth',
  description: 'Write a small synthetic data set in the PASCAL VOC 2012 layout (JPEG images, palette PNG masks, split files).',
  options: [
    { flags: '--out <dir>', description: 'directory to write (VOCdevkit/VOC2012 is created inside)', required: true },
    { flags: '--images <n>', description: 'number of images', default: String(synthDefaults.images) },
    { flags: '--seed <n>', description: 'random seed', default: String(synthDefaults.seed) },
    { flags: '--min-size <px>', description: 'smallest image side', default: String(synthDefaults.minSize) },
    { flags: '--max-size <px>', description: 'largest image side', default: String(synthDefaults.maxSize) },
    { flags: '--val-fraction <f>', description: 'share of the images held out for validation (all labelled)', default: String(synthDefaults.valFraction) },
    {
      flags: '--labelled-fraction <f>',
      description: 'share of the training images with masks (ImageSets/Segmentation); all are listed in ImageSets/Main',
      default: String(synthDefaults.labelledFraction),
    },
  ],
  async run(_args, options, ctx) {
    const out = outDir(options, ctx.cwd);
    const settings = vocSynthOptions.safeParse({
      images: integer(options, 'images', '--images'),
      seed: integer(options, 'seed', '--seed'),
      minSize: integer(options, 'minSize', '--min-size'),
      maxSize: integer(options, 'maxSize', '--max-size'),
      valFraction: fraction(options, 'valFraction', '--val-fraction'),
      labelledFraction: fraction(options, 'labelledFraction', '--labelled-fraction'),
    });
    if (!settings.success) {
      throw new ConfigError('CONFIG_INVALID', `Invalid data synth options: ${settings.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}.`, {
        hint: 'At least 2 images; sides of at least 16 pixels; --val-fraction below 1.',
      });
    }
    const result = await synthesizeVoc(out, settings.data);
    const unlabelled = result.train.length - result.labelled.length;
    ctx.log.info(
      `Wrote ${settings.data.images} images (${result.train.length} train${unlabelled ? ` of which ${result.labelled.length} labelled` : ''}, ${result.val.length} val) to ${result.vocDir}; set data.root to ${out}.`,
    );
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
