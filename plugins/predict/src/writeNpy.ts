import { writeFileSync } from 'node:fs';

/**
 * Writes a float32 array in NumPy's .npy format (version 1.0): magic, header length, a Python dict
 * literal padded with spaces to a multiple of 64 bytes and ending in a newline, then the data.
 */
export function writeNpy(file: string, data: Float32Array, shape: readonly number[]): void {
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const preamble = 10;
  const padded = Math.ceil((preamble + dict.length + 1) / 64) * 64;
  const header = `${dict}${' '.repeat(padded - preamble - dict.length - 1)}\n`;
  const bytes = Buffer.alloc(padded + data.byteLength);
  bytes.write('\x93NUMPY', 0, 'latin1');
  bytes[6] = 1;
  bytes[7] = 0;
  bytes.writeUInt16LE(header.length, 8);
  bytes.write(header, preamble, 'latin1');
  // .npy data is little-endian, as are the platforms Node runs on.
  Buffer.from(data.buffer, data.byteOffset, data.byteLength).copy(bytes, padded);
  writeFileSync(file, bytes);
}
