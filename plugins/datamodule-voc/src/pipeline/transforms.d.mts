export interface CropBox {
  left: number;
  top: number;
  width: number;
  height: number;
}
export declare function adjustBrightness(px: Float32Array, factor: number): void;
export declare function adjustContrast(px: Float32Array, factor: number): void;
export declare function adjustSaturation(px: Float32Array, factor: number): void;
export declare function adjustHue(px: Float32Array, shift: number): void;
export declare function grayscale(px: Float32Array): void;
export declare function solarize(px: Float32Array): void;
export declare function flip(px: Float32Array | Uint8Array | Int32Array, width: number, height: number, channels: number, horizontal: boolean, vertical: boolean): void;
export declare function cropResizeNearest(labels: Uint8Array, width: number, crop: CropBox, outWidth: number, outHeight: number): Int32Array;
export declare function normalize(px: Float32Array, mean: readonly number[], std: readonly number[], out: Float32Array): void;
