import { z } from '@bt-platform/sdk';

const probability = z.number().min(0).max(1);
const range = (low: number, high: number) =>
  z
    .tuple([z.number().nonnegative(), z.number().nonnegative()])
    .refine(([a, b]) => a <= b, 'expected [low, high] with low ≤ high')
    .default([low, high]);

/** The synthetic set written to `root` when it does not exist (same generator as `bt-platform data synth`). */
export const vocSynthOptions = z.strictObject({
  images: z.number().int().min(2).default(64),
  seed: z.number().int().nonnegative().default(0),
  minSize: z.number().int().min(16).default(128),
  maxSize: z.number().int().min(16).default(256),
  valFraction: z.number().gt(0).lt(1).default(0.5).describe('Share of the images held out for validation (all labelled).'),
  labelledFraction: z.number().gt(0).max(1).default(1).describe('Share of the training images with masks; the rest are listed in ImageSets/Main only, unlabelled.'),
});

/** Barlow Twins' two-view augmentations; defaults are the reference's. Per-view pairs are [view1, view2]. */
export const barlowAugmentOptions = z.strictObject({
  cropScale: range(0.08, 1),
  cropRatio: range(3 / 4, 4 / 3),
  hflip: probability.default(0.5),
  brightnessContrast: z
    .strictObject({ p: probability.default(0.8), brightness: z.number().nonnegative().default(0.4), contrast: z.number().nonnegative().default(0.4) })
    .prefault({}),
  hueSaturation: z
    .strictObject({ p: probability.default(0.8), hue: z.number().min(0).max(0.5).default(0.1), saturation: z.number().nonnegative().default(0.2) })
    .prefault({}),
  grayscale: probability.default(0.2),
  blur: z.strictObject({ p: z.tuple([probability, probability]).default([1, 0.1]), sigma: range(0.1, 2) }).prefault({}),
  solarize: z.tuple([probability, probability]).default([0, 0.2]),
});

/** Segmentation training augmentations; validation only resizes. */
export const segmentationAugmentOptions = z.strictObject({
  /** Side of the random crop as a fraction of the image's sides. */
  cropScale: range(0.6, 0.8),
  hflip: probability.default(0.5),
  vflip: probability.default(0),
});

export const vocOptions = z.strictObject({
  root: z.string().default('data/voc').describe('A VOCdevkit/VOC2012 directory, or a directory holding `VOCdevkit/VOC2012` or `VOC2012`; relative to the config file.'),
  mode: z.enum(['barlow-twins', 'segmentation']).default('barlow-twins').describe('barlow-twins: two augmented views per image; segmentation: image and mask.'),
  /**
   * The folder of split files under ImageSets: `Segmentation` lists the images with masks, `Main`
   * every image (VOC 2012: 11540 in trainval against 2913), for self-supervised pre-training only.
   */
  imageSet: z.enum(['Segmentation', 'Main']).default('Segmentation'),
  trainSplit: z.string().default('train').describe('Split file (ImageSets/<imageSet>/<name>.txt) of the training images.'),
  valSplit: z.string().default('val').describe('Split file of the validation images.'),
  testSplit: z.string().default('val').describe('Split file of the test images.'),
  imageSize: z.number().int().min(8).default(224).describe('Side of the square model input.'),
  batchSize: z.number().int().positive().default(32).describe('Training batch size.'),
  valBatchSize: z.number().int().positive().optional().describe('Defaults to batchSize.'),
  /**
   * Worker threads decoding and augmenting; 0 runs the pipeline on the main thread (sharp still uses its
   * own threads); `auto` is one per core less one, from 1 to 4. Batches do not depend on it.
   */
  workers: z.union([z.number().int().nonnegative(), z.literal('auto')]).default('auto'),
  prefetch: z.number().int().nonnegative().default(2).describe('Batches prepared ahead of the one being consumed.'),
  dropLast: z.boolean().default(true).describe('Drop the last incomplete training batch (validation batches are never dropped).'),
  shuffle: z.boolean().default(true),
  strict: z.boolean().default(false).describe('Fail on a corrupt image or mask instead of skipping it with a warning.'),
  limit: z.number().int().positive().optional().describe('At most this many images per split (the first ones of the split file).'),
  generate: z.union([z.literal(false), vocSynthOptions]).default(false).describe('Synthesise a VOC-format set at `root` when `root` does not exist.'),
  augment: barlowAugmentOptions.prefault({}),
  segmentationAugment: segmentationAugmentOptions.prefault({}),
}).refine((o) => !(o.mode === 'segmentation' && o.imageSet === 'Main'), {
  path: ['imageSet'],
  message: 'Main lists images that have no masks, so it cannot feed `mode: segmentation`; use `imageSet: Segmentation` (the default). Main is for barlow-twins pre-training on every image',
});

export type VocOptions = z.output<typeof vocOptions>;
export type VocSynthOptions = z.output<typeof vocSynthOptions>;
