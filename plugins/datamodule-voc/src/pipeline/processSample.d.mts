import type { CropBox } from './transforms.mjs';
import type { Uniforms } from './Uniforms.mjs';

export interface BarlowAugment {
  cropScale: readonly [number, number];
  cropRatio: readonly [number, number];
  hflip: number;
  brightnessContrast: { p: number; brightness: number; contrast: number };
  hueSaturation: { p: number; hue: number; saturation: number };
  grayscale: number;
  /** Probability per view, and the σ range. */
  blur: { p: readonly [number, number]; sigma: readonly [number, number] };
  /** Probability per view. */
  solarize: readonly [number, number];
}

export interface SegmentationAugment {
  cropScale: readonly [number, number];
  hflip: number;
  vflip: number;
}

/** Everything a worker needs to produce one sample; plain data so it can be posted to a thread. */
export interface SampleJob {
  mode: 'barlow-twins' | 'segmentation';
  train: boolean;
  image: string;
  mask?: string;
  size: number;
  uniforms: Float64Array;
  barlow: BarlowAugment;
  segmentation: SegmentationAugment;
  mean: readonly number[];
  std: readonly number[];
  numClasses: number;
  ignoreIndex: number;
}

/** `maskByColour`: the mask held colours, matched against VOC's colour map, rather than class indices. */
export type SampleResult = { view1: Float32Array; view2: Float32Array } | { image: Float32Array; mask: Int32Array; maskByColour?: true };


export declare function processSample(job: SampleJob): Promise<SampleResult>;
export declare function sampleResizedCrop(u: Uniforms, width: number, height: number, scale: readonly [number, number], ratio: readonly [number, number]): CropBox;

export interface ViewParams {
  crop: CropBox;
  hflip: boolean;
  brightnessContrast?: { brightness: number; contrast: number; brightnessFirst: boolean };
  hueSaturation?: { saturation: number; hue: number; saturationFirst: boolean };
  gray: boolean;
  /** 0: no blur. */
  blurSigma: number;
  solar: boolean;
}
export declare function sampleViewParams(u: Uniforms, augment: BarlowAugment, width: number, height: number, view: 0 | 1): ViewParams;
