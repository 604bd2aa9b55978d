export declare class Uniforms {
  constructor(values: Float64Array | number[]);
  next(): number;
  uniform(low: number, high: number): number;
  int(n: number): number;
  bernoulli(p: number): boolean;
}
export declare const UNIFORMS_PER_SAMPLE: number;
