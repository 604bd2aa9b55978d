import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { BtError, encodeSafetensors, readSafetensors, resolveWeights } from '@bt-platform/sdk';
import { FakeHub } from '../fixtures/weights/FakeHub.js';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const tensors = (n: number, offset = 0) => encodeSafetensors({ weight: { dtype: 'float32', shape: [n], data: Float32Array.from({ length: n }, (_, i) => i * 0.5 + offset) } });

let hub: FakeHub;
let deadPort: number;

beforeAll(async () => {
  hub = await FakeHub.start();
  // A port nobody listens on: connections to it are refused.
  const probe = http.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  deadPort = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
});
afterAll(() => hub.close());

function setup(extraEnv: Record<string, string> = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bt-weights-'));
  const lines: string[] = [];
  const put = (m: string) => void lines.push(m);
  const ctx = { resolvePath: (p: string) => path.resolve(dir, p), log: { debug: put, info: put, warn: put, error: put } };
  const env = { BT_PLATFORM_CACHE: path.join(dir, 'cache'), BT_PLATFORM_HF_ENDPOINT: hub.endpoint, ...extraEnv };
  const resolve = (spec: string, more: Record<string, string> = {}) => resolveWeights(spec, ctx, { env: { ...env, ...more }, option: 'model.backbone (vit).weights' });
  const failure = (spec: string, more: Record<string, string> = {}) => resolve(spec, more).then(() => undefined, (e: unknown) => e as BtError);
  return { dir, lines, env, resolve, failure, cache: path.join(dir, 'cache', 'weights') };
}

describe('weights by Hugging Face reference', () => {
  const bytes = tensors(64);
  beforeAll(() => hub.repos.set('acme/tiny/main/model.safetensors', bytes));

  test('downloads once into the cache, verified against the Hub checksum; later uses do not contact the server', async () => {
    const { resolve, lines, cache } = setup();
    const before = hub.requests.length;
    const file = await resolve('hf:acme/tiny');
    expect(file).toBe(path.join(cache, 'hf/acme/tiny/main/model.safetensors'));
    expect(readFileSync(file)).toEqual(Buffer.from(bytes));
    expect(readFileSync(`${file}.sha256`, 'utf8')).toBe(`${sha256(bytes)}  model.safetensors\n`);
    expect(existsSync(`${file}.partial`)).toBe(false);
    expect(lines.join('\n')).toContain('verified against the X-Linked-Etag header');
    expect(hub.requests.slice(before).map((r) => `${r.server} ${r.path}`)).toEqual(['hub /acme/tiny/resolve/main/model.safetensors', 'cdn /cdn/acme%2Ftiny%2Fmain%2Fmodel.safetensors']);

    const count = hub.requests.length;
    expect(await resolve('hf:acme/tiny')).toBe(file);
    expect(hub.requests.length).toBe(count);
    expect((await readSafetensors(file)).tensors.weight.data[3]).toBe(1.5);
  });

  test('a revision and a file inside the repo', async () => {
    hub.repos.set('acme/tiny/v2/sub/other.safetensors', tensors(8));
    const { resolve, cache } = setup();
    expect(await resolve('hf:acme/tiny@v2/sub/other.safetensors')).toBe(path.join(cache, 'hf/acme/tiny/v2/sub/other.safetensors'));
  });

  test('an interrupted download resumes from its partial file with a Range request', async () => {
    const { resolve, failure, cache, lines } = setup();
    const partial = path.join(cache, 'hf/acme/tiny/main/model.safetensors.partial');
    hub.cutInto = partial;
    const error = await failure('hf:acme/tiny');
    expect(error).toMatchObject({ code: 'WEIGHTS_UNAVAILABLE' });
    expect(error!.message).toContain('broke off');
    expect(error!.hint).toContain(`resumes from ${partial}`);
    const kept = readFileSync(partial).length;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(bytes.length);
    expect(existsSync(path.join(cache, 'hf/acme/tiny/main/model.safetensors'))).toBe(false);

    const before = hub.requests.length;
    const file = await resolve('hf:acme/tiny');
    expect(hub.requests.slice(before).map((r) => r.range)).toEqual([`bytes=${kept}-`, `bytes=${kept}-`]);
    expect(lines.join('\n')).toContain('Resuming hf:acme/tiny');
    expect(readFileSync(file)).toEqual(Buffer.from(bytes));
    expect(existsSync(partial)).toBe(false);
  });

  test('a partial file is restarted when the server ignores the range, and only verified when it is already whole', async () => {
    const { resolve, cache, lines } = setup();
    const file = path.join(cache, 'hf/acme/tiny/main/model.safetensors');
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(`${file}.partial`, Buffer.from(bytes).subarray(0, 10));
    hub.ignoreRange = true;
    await resolve('hf:acme/tiny').finally(() => (hub.ignoreRange = false));
    expect(lines.join('\n')).toContain('does not resume downloads');
    expect(readFileSync(file)).toEqual(Buffer.from(bytes));

    rmSync(file);
    writeFileSync(`${file}.partial`, bytes);
    const before = hub.requests.length;
    await resolve('hf:acme/tiny');
    expect(hub.requests.slice(before).map((r) => r.range)).toEqual([`bytes=${bytes.length}-`, `bytes=${bytes.length}-`]);
    expect(readFileSync(file)).toEqual(Buffer.from(bytes));
    expect(readFileSync(`${file}.sha256`, 'utf8')).toContain(sha256(bytes));
  });

  test('a checksum mismatch deletes the partial download and caches nothing', async () => {
    const { failure, cache } = setup();
    hub.announce = 'ab'.repeat(32);
    const error = await failure('hf:acme/tiny').finally(() => (hub.announce = undefined));
    expect(error).toMatchObject({ code: 'WEIGHTS_CORRUPT', exitCode: 1 });
    expect(error!.message).toContain(`expected sha256 ${'ab'.repeat(32)}`);
    expect(error!.message).toContain(sha256(bytes));
    expect(error!.message).toContain('was deleted');
    const file = path.join(cache, 'hf/acme/tiny/main/model.safetensors');
    expect(existsSync(`${file}.partial`)).toBe(false);
    expect(existsSync(file)).toBe(false);
  });

  test('404 names the repo and the file and suggests checking the name', async () => {
    const { failure } = setup();
    const error = await failure('hf:acme/no-such-model');
    expect(error).toBeInstanceOf(BtError);
    expect(error).toMatchObject({ code: 'WEIGHTS_NOT_FOUND', exitCode: 2 });
    expect(error!.message).toContain('no file model.safetensors in repo acme/no-such-model at revision main');
    expect(error!.hint).toContain(`${hub.endpoint}/acme/no-such-model/tree/main`);
    expect(error!.hint).toContain('weights list');
  });

  test('a refused connection names the host and suggests offline mode or a local path', async () => {
    const { failure } = setup({ BT_PLATFORM_HF_ENDPOINT: `http://127.0.0.1:${deadPort}` });
    const error = await failure('hf:acme/tiny');
    expect(error).toMatchObject({ code: 'WEIGHTS_UNAVAILABLE', exitCode: 1 });
    expect(error!.message).toContain(`Cannot reach 127.0.0.1:${deadPort}`);
    expect(error!.message).toContain('ECONNREFUSED');
    expect(error!.hint).toContain('BT_PLATFORM_OFFLINE=1');
    expect(error!.hint).toContain('local .safetensors file');
  });

  test('offline mode uses the cache without the network, and says what to do when the file is not cached', async () => {
    const { resolve, failure } = setup();
    const file = await resolve('hf:acme/tiny');
    const before = hub.requests.length;
    const offlineDead = { BT_PLATFORM_HF_ENDPOINT: `http://127.0.0.1:${deadPort}` };
    expect(await resolve('hf:acme/tiny', { ...offlineDead, BT_PLATFORM_OFFLINE: '1' })).toBe(file);
    expect(await resolve('hf:acme/tiny', { ...offlineDead, HF_HUB_OFFLINE: '1' })).toBe(file);

    const error = await failure('hf:acme/other', { BT_PLATFORM_OFFLINE: '1' });
    expect(error).toMatchObject({ code: 'WEIGHTS_UNAVAILABLE' });
    expect(error!.message).toContain('Offline mode');
    expect(error!.message).toContain('hf:acme/other is not in the cache');
    expect(error!.hint).toContain('npx bt-platform weights download hf:acme/other');
    expect(hub.requests.length).toBe(before);
  });

  test('the token goes to the Hub only, not to the server it redirects to', async () => {
    const { resolve } = setup({ HF_TOKEN: 'hf_abcdefghijklmnopqrstuvwxyz0123456789' });
    const before = hub.requests.length;
    await resolve('hf:acme/tiny');
    expect(hub.requests.slice(before).map((r) => [r.server, r.authorization])).toEqual([
      ['hub', 'Bearer hf_abcdefghijklmnopqrstuvwxyz0123456789'],
      ['cdn', undefined],
    ]);
  });

  test('a large download reports progress a tenth at a time', async () => {
    hub.repos.set('acme/large/main/model.safetensors', tensors(1_200_000));
    const { resolve, lines } = setup();
    await resolve('hf:acme/large');
    const progress = lines.filter((l) => l.startsWith('Downloading hf:acme/large'));
    expect(progress.map((l) => /(\d+)%/.exec(l)![1])).toEqual(['10', '20', '30', '40', '50', '60', '70', '80', '90', '100']);
  });
});

describe('weights by URL and by name', () => {
  test('a URL is verified against a published .sha256 beside it', async () => {
    const bytes = tensors(16);
    hub.files.set('w.safetensors', bytes);
    hub.checksums.set('w.safetensors', `${sha256(bytes)}  w.safetensors\n`);
    const { resolve, lines } = setup();
    const file = await resolve(`${hub.endpoint}/files/w.safetensors`);
    expect(path.basename(file)).toBe('w.safetensors');
    expect(readFileSync(file)).toEqual(Buffer.from(bytes));
    expect(lines.join('\n')).toContain('/files/w.safetensors.sha256');

    hub.checksums.set('w.safetensors', '00'.repeat(32));
    const { failure } = setup();
    expect(await failure(`${hub.endpoint}/files/w.safetensors`)).toMatchObject({ code: 'WEIGHTS_CORRUPT' });
  });

  test('without a published checksum the first download is recorded, and a cached file that changed is downloaded again', async () => {
    const bytes = tensors(12);
    hub.files.set('plain.safetensors', bytes);
    const { resolve, lines } = setup();
    const file = await resolve(`${hub.endpoint}/files/plain.safetensors`);
    expect(lines.join('\n')).toContain('recorded to verify the cached file');
    expect(readFileSync(`${file}.sha256`, 'utf8')).toContain(sha256(bytes));

    writeFileSync(file, tensors(12, 1));
    const before = hub.requests.length;
    expect(await resolve(`${hub.endpoint}/files/plain.safetensors`)).toBe(file);
    expect(lines.join('\n')).toContain('no longer matches its sha256');
    expect(hub.requests.length).toBeGreaterThan(before);
    expect(readFileSync(file)).toEqual(Buffer.from(bytes));
  });

  test('a URL that answers 404 is a config error naming it', async () => {
    const { failure } = setup();
    const error = await failure(`${hub.endpoint}/files/missing.safetensors`);
    expect(error).toMatchObject({ code: 'WEIGHTS_NOT_FOUND', exitCode: 2 });
    expect(error!.message).toContain('/files/missing.safetensors answered HTTP 404');
  });

  test('a known name downloads its Hub repo', async () => {
    const bytes = tensors(10);
    hub.repos.set('timm/vit_small_patch16_224.dino/main/model.safetensors', bytes);
    const { resolve, cache } = setup();
    const before = hub.requests.length;
    const file = await resolve('dino_vits16');
    expect(file).toBe(path.join(cache, 'hf/timm/vit_small_patch16_224.dino/main/model.safetensors'));
    expect(hub.requests[before].path).toBe('/timm/vit_small_patch16_224.dino/resolve/main/model.safetensors');
  });

  test('paths stay paths; unknown names, PyTorch files and malformed references are config errors', async () => {
    const { resolve, failure, dir } = setup();
    writeFileSync(path.join(dir, 'local.safetensors'), tensors(2));
    expect(await resolve('local.safetensors')).toBe(path.join(dir, 'local.safetensors'));

    const unknown = await failure('dino_vits17');
    expect(unknown).toMatchObject({ code: 'WEIGHTS_NOT_FOUND', exitCode: 2 });
    expect(unknown!.message).toContain('model.backbone (vit).weights "dino_vits17" is neither a known weights name nor a file');
    expect(unknown!.hint).toContain('dino_vits16');

    const pth = await failure('https://download.pytorch.org/models/resnet50-19c8e357.pth');
    expect(pth).toMatchObject({ code: 'CONFIG_INVALID' });
    expect(pth!.hint).toContain('scripts/convert-weights.py');
    expect(pth!.hint).toContain('hf:timm/resnet50.tv_in1k');

    expect(await failure('hf:acme/tiny/pytorch_model.bin')).toMatchObject({ code: 'CONFIG_INVALID' });
    const malformed = await failure('hf:just-a-repo');
    expect(malformed).toMatchObject({ code: 'CONFIG_INVALID' });
    expect(malformed!.hint).toContain('hf:<owner>/<repo>');
    expect(await failure('hf:acme/../etc')).toMatchObject({ code: 'CONFIG_INVALID' });
  });
});
