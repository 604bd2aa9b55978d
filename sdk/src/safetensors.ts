import { promises as fsp } from 'node:fs';
import { BtError } from './errors.js';
import { writeFileAtomic } from './fs.js';

/**
 * The safetensors format: an 8-byte little-endian header length, a JSON header mapping names to
 * dtype, shape and byte offsets, then the raw little-endian data. Read and written here so that
 * weights move to and from PyTorch without conversion tools.
 */
export type SafetensorsDtype = 'F32' | 'I32' | 'F64' | 'I64' | 'U8' | 'BOOL' | 'F16' | 'BF16';

export interface RawTensor {
  dtype: 'float32' | 'int32';
  shape: number[];
  data: Float32Array | Int32Array;
}

export interface SafetensorsFile {
  tensors: Record<string, RawTensor>;
  metadata: Record<string, string>;
}

const BYTES: Record<SafetensorsDtype, number> = { F32: 4, I32: 4, F64: 8, I64: 8, U8: 1, BOOL: 1, F16: 2, BF16: 2 };

export function encodeSafetensors(tensors: Record<string, RawTensor>, metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  const names = Object.keys(tensors).sort();
  for (const name of names) {
    const t = tensors[name];
    const size = t.data.length * 4;
    header[name] = { dtype: t.dtype === 'float32' ? 'F32' : 'I32', shape: t.shape, data_offsets: [offset, offset + size] };
    offset += size;
  }
  let json = JSON.stringify(header);
  // Pad the header so the data starts 8-byte aligned, as the reference writer does.
  json += ' '.repeat((8 - ((json.length + 8) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const name of names) {
    const t = tensors[name];
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

export function decodeSafetensors(bytes: Uint8Array, source = 'buffer'): SafetensorsFile {
  const bad = (why: string) =>
    new BtError('CHECKPOINT_INVALID', `${source} is not a valid safetensors file: ${why}.`, {
      hint: 'The file may be truncated or of another format; re-export it with safetensors.torch.save_file.',
    });
  if (bytes.length < 8) throw bad('shorter than its 8-byte header length');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > bytes.length - 8) throw bad(`header length ${headerLength} exceeds the file size ${bytes.length}`);
  let header: Record<string, { dtype: SafetensorsDtype; shape: number[]; data_offsets: [number, number] }>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  } catch {
    throw bad('its JSON header does not parse');
  }
  const dataStart = 8 + headerLength;
  const tensors: Record<string, RawTensor> = {};
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = entry as unknown as Record<string, string>;
      continue;
    }
    const [begin, end] = entry.data_offsets;
    const count = entry.shape.reduce((a, b) => a * b, 1);
    if (!(entry.dtype in BYTES)) throw bad(`tensor "${name}" has unknown dtype ${entry.dtype}`);
    if (end - begin !== count * BYTES[entry.dtype]) throw bad(`tensor "${name}" has ${end - begin} bytes for shape [${entry.shape}]`);
    if (dataStart + end > bytes.length) throw bad(`tensor "${name}" ends past the end of the file (truncated?)`);
    const slice = bytes.slice(dataStart + begin, dataStart + end);
    tensors[name] = toRaw(entry.dtype, entry.shape, slice, name, bad);
  }
  return { tensors, metadata };
}

function toRaw(dtype: SafetensorsDtype, shape: number[], slice: Uint8Array, name: string, bad: (why: string) => Error): RawTensor {
  const dv = new DataView(slice.buffer, slice.byteOffset, slice.byteLength);
  const n = shape.reduce((a, b) => a * b, 1);
  switch (dtype) {
    case 'F32':
      return { dtype: 'float32', shape, data: new Float32Array(slice.buffer, slice.byteOffset, n) };
    case 'I32':
      return { dtype: 'int32', shape, data: new Int32Array(slice.buffer, slice.byteOffset, n) };
    case 'F64': {
      const data = new Float32Array(n);
      for (let i = 0; i < n; i++) data[i] = dv.getFloat64(i * 8, true);
      return { dtype: 'float32', shape, data };
    }
    case 'I64': {
      const data = new Int32Array(n);
      for (let i = 0; i < n; i++) data[i] = Number(dv.getBigInt64(i * 8, true));
      return { dtype: 'int32', shape, data };
    }
    case 'U8':
    case 'BOOL':
      return { dtype: 'int32', shape, data: Int32Array.from(slice) };
    case 'F16': {
      const data = new Float32Array(n);
      for (let i = 0; i < n; i++) data[i] = halfToFloat(dv.getUint16(i * 2, true));
      return { dtype: 'float32', shape, data };
    }
    case 'BF16': {
      const data = new Float32Array(n);
      const u32 = new Uint32Array(data.buffer);
      for (let i = 0; i < n; i++) u32[i] = dv.getUint16(i * 2, true) << 16;
      return { dtype: 'float32', shape, data };
    }
    default:
      throw bad(`tensor "${name}" has unsupported dtype ${dtype as string}`);
  }
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

export async function readSafetensors(file: string): Promise<SafetensorsFile> {
  let bytes: Uint8Array;
  try {
    bytes = await fsp.readFile(file);
  } catch (error) {
    throw new BtError('CHECKPOINT_INVALID', `Cannot read weights file ${file}: ${(error as Error).message}.`, {
      hint: 'Check the path in the config (relative paths are resolved against the config file).',
      cause: error,
    });
  }
  return decodeSafetensors(bytes, file);
}

export async function writeSafetensors(file: string, tensors: Record<string, RawTensor>, metadata: Record<string, string> = {}): Promise<void> {
  await writeFileAtomic(file, encodeSafetensors(tensors, metadata));
}
