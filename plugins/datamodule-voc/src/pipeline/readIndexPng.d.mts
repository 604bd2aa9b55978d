export interface IndexPng {
  width: number;
  height: number;
  /** 0 greyscale, 2 RGB, 3 palette, 4 greyscale + alpha, 6 RGBA. */
  colourType: 0 | 2 | 3 | 4 | 6;
  /** One stored value per pixel (palette index or grey level); only for colour types 0 and 3. */
  values?: Uint8Array | Uint16Array;
}

export declare function isPng(bytes: Uint8Array): boolean;
export declare function readIndexPng(bytes: Uint8Array): IndexPng;
