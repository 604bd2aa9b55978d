import { promises as fsp } from 'node:fs';
import { BtError } from './errors.js';
import { writeFileAtomic } from './fs.js';

/**
 * The safetensors format: an 8-byte little-endian header length, a JSON header mapping names to
 * dtype, shape and byte offsets, then the raw little-endian data. Read and written here so that
 * weights move to and from PyTorch without conversion tools.
 */
export type SafetensorsDtype = 'F32' | 'I32' | 'F64' | 'I64' | 'I16' | 'U16' | 'I8' | 'U8' | 'BOOL' | 'F16' | 'BF16';

export interface RawTensor {
  dtype: 'float32' | 'int32';
  shape: number[];
  data: Float32Array | Int32Array;
}

export interface SafetensorsFile {
  tensors: Record<string, RawTensor>;
  metadata: Record<string, string>;
}

const BYTES: Record<SafetensorsDtype, number> = { F32: 4, I32: 4, F64: 8, I64: 8, I16: 2, U16: 2, I8: 1, U8: 1, BOOL: 1, F16: 2, BF16: 2 };
/** Dtypes of the format this reader does not turn into float32 or int32 (no lossless or common use). */
const UNSUPPORTED = new Set(['U32', 'U64', 'F8_E4M3', 'F8_E5M2', 'F8_E8M0', 'F6_E2M3', 'F6_E3M2', 'F4', 'C64']);
/** A header this long is not a tensor index (the reference reader's limit is also 100 MB). */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;
const CONVERT_USAGE = 'python3 scripts/convert-weights.py';

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

/** `zip` for torch.save's archive, `pickle` for its legacy format; undefined for anything else. */
export function pytorchFormat(bytes: Uint8Array): 'zip' | 'pickle' | undefined {
  // A safetensors header length may begin with these bytes too, but its header starts with '{'.
  if (bytes.length >= 9 && bytes[8] === 0x7b) return undefined;
  if (bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) return 'zip';
  if (bytes[0] === 0x80 && bytes[1] >= 2 && bytes[1] <= 5) return 'pickle';
  return undefined;
}

/** The error for a PyTorch file given where safetensors is expected; `hint` says what to do with the converted file. */
export function pytorchFileError(source: string, format: 'zip' | 'pickle', hint: string): BtError {
  const kind = format === 'zip' ? 'a torch.save zip archive' : 'a pickle';
  const converted = `${source.replace(/\.(pth?|bin|ckpt)$/i, '')}.safetensors`;
  return new BtError('CHECKPOINT_INVALID', `${source} is a PyTorch file (${kind}), not safetensors; bt-platform does not read pickles.`, {
    hint: `Convert it with \`${CONVERT_USAGE} ${source} ${converted}\` (needs Python with torch; --section and --strip-prefix pick the model inside a training checkpoint), then ${hint}.`,
  });
}

interface HeaderEntry {
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Checks one header entry completely before any of its bytes are read. */
function parseEntry(name: string, entry: unknown, bodyLength: number, bad: (why: string, hint?: string) => Error): HeaderEntry {
  const tensor = `tensor "${name}"`;
  if (!isPlainObject(entry)) throw bad(`${tensor} is not an object with dtype, shape and data_offsets`);
  const { dtype, shape, data_offsets: offsets } = entry;
  if (typeof dtype !== 'string' || !Object.hasOwn(BYTES, dtype)) {
    if (typeof dtype === 'string' && UNSUPPORTED.has(dtype)) {
      throw bad(
        `${tensor} has dtype ${dtype}, which bt-platform does not read (it reads F32, F16, BF16, F64 and integer or bool tensors)`,
        'Save the tensors as float32, e.g. `save_file({k: v.float() for k, v in load_file(f).items()}, out)` in Python.',
      );
    }
    throw bad(`${tensor} has unknown dtype ${JSON.stringify(dtype)}`);
  }
  if (!Array.isArray(shape) || !shape.every(isIndex)) throw bad(`${tensor} has shape ${JSON.stringify(shape)}; a shape is a list of non-negative integers`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isIndex) || offsets[0] > offsets[1]) {
    throw bad(`${tensor} has data_offsets ${JSON.stringify(offsets)}; they must be two integers 0 <= begin <= end`);
  }
  const [begin, end] = offsets as [number, number];
  if (end > bodyLength) throw bad(`${tensor} ends at byte ${end}, past the end of the data (${bodyLength} bytes; file truncated?)`);
  const size = (shape as number[]).reduce((a, b) => a * b, 1) * BYTES[dtype as SafetensorsDtype];
  if (end - begin !== size) throw bad(`${tensor} has ${end - begin} bytes, but ${dtype} [${shape}] needs ${size}`);
  return { dtype: dtype as SafetensorsDtype, shape: shape as number[], begin, end };
}

export function decodeSafetensors(bytes: Uint8Array, source = 'buffer'): SafetensorsFile {
  const bad = (why: string, hint = 'The file may be truncated, edited or of another format; re-export it with safetensors.torch.save_file.') =>
    new BtError('CHECKPOINT_INVALID', `${source} is not a valid safetensors file: ${why}.`, { hint });
  const pytorch = pytorchFormat(bytes);
  if (pytorch) throw pytorchFileError(source, pytorch, 'set the `weights:` option to the .safetensors file');
  if (bytes.length < 8) throw bad('shorter than its 8-byte header length');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const declared = view.getBigUint64(0, true);
  if (declared > BigInt(MAX_HEADER_BYTES)) throw bad(`header length ${declared} is over the 100 MB limit`);
  const headerLength = Number(declared);
  if (headerLength > bytes.length - 8) throw bad(`header length ${headerLength} exceeds the file size ${bytes.length}`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  } catch {
    throw bad('its JSON header does not parse');
  }
  if (!isPlainObject(header)) throw bad('its header is not a JSON object');
  const body = bytes.subarray(8 + headerLength);
  const entries: Array<[string, HeaderEntry]> = [];
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isPlainObject(entry)) throw bad('__metadata__ must map strings to strings');
      const wrong = Object.entries(entry).find(([, v]) => typeof v !== 'string');
      if (wrong) throw bad(`__metadata__ must map strings to strings, but "${wrong[0]}" is ${JSON.stringify(wrong[1])}`);
      metadata = Object.fromEntries(Object.entries(entry)) as Record<string, string>;
      continue;
    }
    entries.push([name, parseEntry(name, entry, body.length, bad)]);
  }
  const byOffset = entries.filter(([, e]) => e.end > e.begin).sort(([, a], [, b]) => a.begin - b.begin);
  for (let i = 1; i < byOffset.length; i++) {
    const [prevName, prev] = byOffset[i - 1];
    const [name, entry] = byOffset[i];
    if (entry.begin < prev.end) throw bad(`tensors "${prevName}" and "${name}" overlap (bytes ${prev.begin}-${prev.end} and ${entry.begin}-${entry.end})`);
  }
  // fromEntries defines own properties, so a tensor named "__proto__" stays a tensor.
  const tensors = Object.fromEntries(entries.map(([name, e]) => [name, toRaw(e.dtype, e.shape, body.subarray(e.begin, e.end))]));
  return { tensors, metadata };
}

/** Copies the bytes out, so data at any offset (the format does not align it) becomes a typed array of its own. */
function toRaw(dtype: SafetensorsDtype, shape: number[], slice: Uint8Array): RawTensor {
  const dv = new DataView(slice.buffer, slice.byteOffset, slice.byteLength);
  const n = shape.reduce((a, b) => a * b, 1);
  switch (dtype) {
    case 'F32': {
      const data = new Float32Array(n);
      new Uint8Array(data.buffer).set(slice);
      return { dtype: 'float32', shape, data };
    }
    case 'I32': {
      const data = new Int32Array(n);
      new Uint8Array(data.buffer).set(slice);
      return { dtype: 'int32', shape, data };
    }
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
    case 'I16': {
      const data = new Int32Array(n);
      for (let i = 0; i < n; i++) data[i] = dv.getInt16(i * 2, true);
      return { dtype: 'int32', shape, data };
    }
    case 'U16': {
      const data = new Int32Array(n);
      for (let i = 0; i < n; i++) data[i] = dv.getUint16(i * 2, true);
      return { dtype: 'int32', shape, data };
    }
    case 'I8':
      return { dtype: 'int32', shape, data: Int32Array.from(new Int8Array(slice.buffer, slice.byteOffset, n)) };
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
