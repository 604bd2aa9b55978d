export declare class SampleError extends Error {
  readonly file: string;
  readonly reason: string;
  constructor(file: string, reason: string);
}
