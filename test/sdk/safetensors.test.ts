import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BtError, decodeSafetensors, encodeSafetensors, readSafetensors } from '@bt-platform/sdk';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'bt-st-'));

/** A safetensors file written by hand: 8-byte little-endian header length, the header as given, then `body`. */
function craft(header: unknown, body: Uint8Array = new Uint8Array(0), headerText = JSON.stringify(header)): Uint8Array {
  const json = new TextEncoder().encode(headerText);
  const out = new Uint8Array(8 + json.length + body.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(body, 8 + json.length);
  return out;
}

const f32 = (...values: number[]) => new Uint8Array(Float32Array.from(values).buffer);
const i32 = (...values: number[]) => new Uint8Array(Int32Array.from(values).buffer);

/** Writes the bytes to a file and returns the error reading it gives. */
async function readError(bytes: Uint8Array): Promise<BtError> {
  const file = path.join(tmp(), 'weights.safetensors');
  writeFileSync(file, bytes);
  const error = await readSafetensors(file).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BtError);
  const bt = error as BtError;
  expect(bt.code).toBe('CHECKPOINT_INVALID');
  expect(bt.message).toContain(file);
  return bt;
}

describe('safetensors', () => {
  test('round-trips float32 and int32 tensors with metadata', () => {
    const bytes = encodeSafetensors(
      { w: { dtype: 'float32', shape: [2, 2], data: Float32Array.from([1, 2, 3, 4]) }, n: { dtype: 'int32', shape: [1], data: Int32Array.from([7]) } },
      { note: 'x' },
    );
    const { tensors, metadata } = decodeSafetensors(bytes);
    expect(Array.from(tensors.w.data)).toEqual([1, 2, 3, 4]);
    expect(tensors.w.shape).toEqual([2, 2]);
    expect(Array.from(tensors.n.data)).toEqual([7]);
    expect(metadata).toEqual({ note: 'x' });
  });

  test('reads a file whose header length is not a multiple of 4 (no padding is required)', async () => {
    const header = { a: { dtype: 'F32', shape: [3], data_offsets: [0, 12] }, b: { dtype: 'I32', shape: [2], data_offsets: [12, 20] } };
    let text = JSON.stringify(header);
    if (text.length % 2 === 0) text += ' ';
    const bytes = craft(undefined, new Uint8Array([...f32(1.5, -2, 3.25), ...i32(-7, 123456)]), text);
    expect((bytes.length - 20) % 4).not.toBe(0);
    const file = path.join(tmp(), 'odd.safetensors');
    writeFileSync(file, bytes);
    const { tensors } = await readSafetensors(file);
    expect(Array.from(tensors.a.data)).toEqual([1.5, -2, 3.25]);
    expect(tensors.a.dtype).toBe('float32');
    expect(Array.from(tensors.b.data)).toEqual([-7, 123456]);
    expect(tensors.b.dtype).toBe('int32');
    // The same bytes at an odd offset inside a larger buffer.
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    expect(Array.from(decodeSafetensors(shifted.subarray(1)).tensors.a.data)).toEqual([1.5, -2, 3.25]);
  });

  test('converts F16, BF16, F64, I64, I8 and BOOL to float32 or int32', () => {
    const body = new Uint8Array(2 + 2 + 8 + 8 + 2 + 1);
    const dv = new DataView(body.buffer);
    dv.setUint16(0, 0x3e00, true); // 1.5 in half precision
    dv.setUint16(2, 0xc040, true); // -3 in bfloat16
    dv.setFloat64(4, 0.25, true);
    dv.setBigInt64(12, -9n, true);
    dv.setInt8(20, -5);
    dv.setInt8(21, 100);
    dv.setUint8(22, 1);
    const header = {
      h: { dtype: 'F16', shape: [1], data_offsets: [0, 2] },
      bf: { dtype: 'BF16', shape: [1], data_offsets: [2, 4] },
      d: { dtype: 'F64', shape: [1], data_offsets: [4, 12] },
      l: { dtype: 'I64', shape: [1], data_offsets: [12, 20] },
      c: { dtype: 'I8', shape: [2], data_offsets: [20, 22] },
      flag: { dtype: 'BOOL', shape: [], data_offsets: [22, 23] },
    };
    const { tensors } = decodeSafetensors(craft(header, body));
    expect(Array.from(tensors.h.data)).toEqual([1.5]);
    expect(Array.from(tensors.bf.data)).toEqual([-3]);
    expect(Array.from(tensors.d.data)).toEqual([0.25]);
    expect(Array.from(tensors.l.data)).toEqual([-9]);
    expect(Array.from(tensors.c.data)).toEqual([-5, 100]);
    expect(Array.from(tensors.flag.data)).toEqual([1]);
  });

  test('a tensor named __proto__ is an ordinary tensor, not a prototype', () => {
    const { tensors } = decodeSafetensors(craft(undefined, f32(2), '{"__proto__":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'));
    expect(Object.keys(tensors)).toEqual(['__proto__']);
    expect(Array.from(tensors['__proto__'].data)).toEqual([2]);
  });

  describe('rejects malformed files with CHECKPOINT_INVALID naming the file and the tensor', () => {
    const ok = { dtype: 'F32', shape: [2], data_offsets: [0, 8] };
    const cases: Array<[string, unknown, Uint8Array, RegExp]> = [
      ['negative offsets', { w: { ...ok, data_offsets: [-8, 0] } }, f32(1, 2), /tensor "w".*data_offsets \[-8,0\]/],
      ['offsets past the data', { w: { ...ok, data_offsets: [8, 16] } }, f32(1, 2), /tensor "w".*past the end of the data \(8 bytes;/],
      ['overlapping offsets', { w: ok, v: { ...ok, data_offsets: [4, 12] } }, f32(1, 2, 3), /tensors "w" and "v" overlap/],
      ['a size that does not fit the shape', { w: { ...ok, shape: [3] } }, f32(1, 2), /tensor "w" has 8 bytes, but F32 \[3\] needs 12/],
      ['an unknown dtype', { w: { ...ok, dtype: 'F33' } }, f32(1, 2), /tensor "w" has unknown dtype "F33"/],
      ['an unsupported dtype', { w: { ...ok, dtype: 'F8_E4M3', shape: [8] } }, f32(1, 2), /tensor "w" has dtype F8_E4M3, which bt-platform does not read/],
      ['a shape with -1', { w: { ...ok, shape: [-1, 2] } }, f32(1, 2), /tensor "w" has shape \[-1,2\]/],
      ['a shape of strings', { w: { ...ok, shape: ['2'] } }, f32(1, 2), /tensor "w" has shape \["2"\]/],
      ['an entry that is not an object', { w: 5 }, f32(1, 2), /tensor "w" is not an object/],
      ['offsets that are not two integers', { w: { ...ok, data_offsets: [0, 4, 8] } }, f32(1, 2), /tensor "w" has data_offsets \[0,4,8\]/],
      ['metadata that is not a string map', { __metadata__: { epoch: 3 } }, new Uint8Array(0), /__metadata__ .*"epoch"/],
      ['a header that is an array', [1, 2], new Uint8Array(0), /header is not a JSON object/],
      ['a header that is null', null, new Uint8Array(0), /header is not a JSON object/],
    ];
    test.each(cases)('%s', async (_name, header, body, pattern) => {
      const error = await readError(craft(header, body));
      expect(error.message).toMatch(pattern);
      expect(error.hint).toBeTruthy();
    });

    test('a truncated file', async () => {
      const bytes = encodeSafetensors({ w: { dtype: 'float32', shape: [4], data: Float32Array.from([1, 2, 3, 4]) } });
      const error = await readError(bytes.subarray(0, bytes.length - 3));
      expect(error.message).toMatch(/tensor "w".*past the end of the data.*truncated/);
    });

    test('a header length past the end of the file', async () => {
      const bytes = craft({ w: ok }, f32(1, 2));
      new DataView(bytes.buffer).setBigUint64(0, BigInt(bytes.length), true);
      expect((await readError(bytes)).message).toMatch(/header length \d+ exceeds the file size/);
    });

    test('an absurd header length', async () => {
      const bytes = craft({ w: ok }, f32(1, 2));
      new DataView(bytes.buffer).setBigUint64(0, 2n ** 63n, true);
      expect((await readError(bytes)).message).toMatch(/header length \d+ is over the 100 MB limit/);
    });

    test('a file shorter than the header length field', async () => {
      expect((await readError(new Uint8Array([1, 2, 3]))).message).toMatch(/shorter than/);
    });

    test('a header that is not JSON', async () => {
      expect((await readError(craft(undefined, undefined, '{"w": '))).message).toMatch(/JSON header does not parse/);
    });
  });

  describe('recognises PyTorch files and points to the converter', () => {
    test.each([
      ['a torch.save zip archive', new Uint8Array([0x50, 0x4b, 0x03, 0x04, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00])],
      ['a legacy pickle', new Uint8Array([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19])],
    ])('%s', async (_name, bytes) => {
      const error = await readError(bytes);
      expect(error.message).toMatch(/is a PyTorch file/);
      expect(error.hint).toContain('python3 scripts/convert-weights.py');
    });
  });
});
