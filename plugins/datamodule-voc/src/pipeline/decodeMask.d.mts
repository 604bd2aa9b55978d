export interface DecodedMask {
  /** Class index per pixel, row-major (255 = void). */
  labels: Uint8Array;
  width: number;
  height: number;
  /** The mask held colours, matched against VOC's colour map, rather than class indices. */
  byColour: boolean;
}

export declare function decodeMask(file: string, numClasses: number, ignoreIndex: number): Promise<DecodedMask>;
