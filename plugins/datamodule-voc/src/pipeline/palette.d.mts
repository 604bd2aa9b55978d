export declare const VOC_PALETTE: ReadonlyArray<readonly [number, number, number]>;
export declare function paletteIndexOf(r: number, g: number, b: number): number;
