/** A sample that cannot be used (unreadable file, bad mask, size mismatch): the loader skips it, or fails in strict mode. */
export class SampleError extends Error {
  /** @param {string} file @param {string} reason */
  constructor(file, reason) {
    super(`${file}: ${reason}`);
    this.name = 'SampleError';
    this.file = file;
    this.reason = reason;
  }
}
