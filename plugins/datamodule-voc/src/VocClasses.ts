import { VOC_PALETTE } from './pipeline/palette.mjs';

/** PASCAL VOC 2012 segmentation classes; the index is the class id in the masks. */
export const VOC_CLASSES = Object.freeze([
  'background',
  'aeroplane',
  'bicycle',
  'bird',
  'boat',
  'bottle',
  'bus',
  'car',
  'cat',
  'chair',
  'cow',
  'diningtable',
  'dog',
  'horse',
  'motorbike',
  'person',
  'pottedplant',
  'sheep',
  'sofa',
  'train',
  'tvmonitor',
] as const);

export const VOC_NUM_CLASSES = VOC_CLASSES.length;

/** Mask value of the void border around objects and of unlabelled pixels. */
export const VOC_IGNORE_INDEX = 255;

/** VOC's colour map (256 entries: the classes, then 255 = void in cream). */
export { VOC_PALETTE };

/** The RGB colours of the 21 classes, index = class id. */
export const VOC_CLASS_COLOURS: ReadonlyArray<readonly [number, number, number]> = VOC_PALETTE.slice(0, VOC_NUM_CLASSES);

/** ImageNet statistics the reference normalised with (RGB, values in [0, 1]). */
export const IMAGENET_NORMALIZATION = Object.freeze({
  mean: Object.freeze([0.485, 0.456, 0.406]),
  std: Object.freeze([0.229, 0.224, 0.225]),
});
