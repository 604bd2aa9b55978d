import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { encodeSafetensors, Slots } from '@bt-platform/sdk';
import type { Backbone, RawTensor } from '@bt-platform/sdk';
import vitPlugin from '@bt-platform/plugin-backbone-vit';
import resnetPlugin from '@bt-platform/plugin-backbone-resnet';
import { create, fakeContext } from '../../fixtures/models/modelTesting.js';
import { FakeHub } from '../../fixtures/weights/FakeHub.js';
import { runCli } from '../../runCli.js';

let hub: FakeHub;
const saved = { ...process.env };

beforeAll(async () => {
  await tf.setBackend('cpu');
  hub = await FakeHub.start();
});
afterAll(() => hub.close());
afterEach(() => {
  for (const key of ['BT_PLATFORM_CACHE', 'BT_PLATFORM_HF_ENDPOINT', 'BT_PLATFORM_OFFLINE']) {
    if (saved[key] === undefined) delete process.env[key];
    else process.env[key] = saved[key];
  }
});

/** Every tensor of a freshly built model, offset so that loaded values differ from the initial ones. */
function shifted(model: Backbone): Record<string, RawTensor> {
  const out: Record<string, RawTensor> = {};
  for (const [name, t] of Object.entries(model.stateDict())) out[name] = { ...t, data: t.dtype === 'float32' ? t.data.map((v, i) => v + 0.25 + i * 1e-3) : t.data };
  return out;
}

function useFakeHub(): string {
  const cache = mkdtempSync(path.join(os.tmpdir(), 'bt-weights-cache-'));
  process.env.BT_PLATFORM_CACHE = cache;
  process.env.BT_PLATFORM_HF_ENDPOINT = hub.endpoint;
  return cache;
}

describe('backbones load `weights: hf:<repo>` through their component', () => {
  const tinyVit = { variant: 'custom', imageSize: 32, patchSize: 8, embedDim: 16, depth: 2, heads: 2, mlpRatio: 2 };

  test('vit: downloaded into the cache, then loaded', async () => {
    const cache = useFakeHub();
    const reference = await create(vitPlugin, Slots.backbone, 'vit', tinyVit, fakeContext());
    const expected = shifted(reference);
    reference.dispose();
    hub.repos.set('acme/tiny-vit/main/model.safetensors', encodeSafetensors(expected));

    const vit = await create(vitPlugin, Slots.backbone, 'vit', { ...tinyVit, weights: 'hf:acme/tiny-vit' }, fakeContext());
    const state = vit.stateDict();
    expect(Object.keys(state).sort()).toEqual(Object.keys(expected).sort());
    for (const [name, t] of Object.entries(expected)) expect(Array.from(state[name].data)).toEqual(Array.from(t.data));
    vit.dispose();
    expect(existsSync(path.join(cache, 'weights/hf/acme/tiny-vit/main/model.safetensors'))).toBe(true);
  });

  test('resnet: an unknown repo fails with the option and the repo named', async () => {
    useFakeHub();
    const error = await create(resnetPlugin, Slots.backbone, 'resnet18', { baseWidth: 4, weights: 'hf:acme/nothing-here' }, fakeContext()).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'WEIGHTS_NOT_FOUND', exitCode: 2 });
    expect((error as Error).message).toContain('repo acme/nothing-here');
  });

  test('resnet: offline, the cached copy is used', async () => {
    useFakeHub();
    const reference = await create(resnetPlugin, Slots.backbone, 'resnet18', { baseWidth: 4 }, fakeContext());
    const expected = shifted(reference);
    reference.dispose();
    hub.repos.set('acme/tiny-resnet/main/model.safetensors', encodeSafetensors(expected));
    (await create(resnetPlugin, Slots.backbone, 'resnet18', { baseWidth: 4, weights: 'hf:acme/tiny-resnet' }, fakeContext())).dispose();

    process.env.BT_PLATFORM_OFFLINE = '1';
    const before = hub.requests.length;
    const resnet = await create(resnetPlugin, Slots.backbone, 'resnet18', { baseWidth: 4, weights: 'hf:acme/tiny-resnet' }, fakeContext());
    expect(hub.requests.length).toBe(before);
    expect(Array.from(resnet.stateDict()['conv1.weight'].data)).toEqual(Array.from(expected['conv1.weight'].data));
    resnet.dispose();
  });
});

const cli = (args: string[], env: Record<string, string>) => runCli(args, { env });

describe('bt-platform weights', () => {
  test('download fills the cache and prints the file; list shows the known names and what is cached', async () => {
    const bytes = encodeSafetensors({ w: { dtype: 'float32', shape: [3], data: Float32Array.of(1, 2, 3) } });
    hub.repos.set('timm/vit_small_patch16_224.dino/main/model.safetensors', bytes);
    const cache = mkdtempSync(path.join(os.tmpdir(), 'bt-weights-cli-'));
    const env = { BT_PLATFORM_CACHE: cache, BT_PLATFORM_HF_ENDPOINT: hub.endpoint };

    const download = await cli(['weights', 'download', 'dino_vits16'], env);
    expect(download.stderr).toContain('verified against the X-Linked-Etag header');
    expect(download).toMatchObject({ code: 0 });
    const file = path.join(cache, 'weights/hf/timm/vit_small_patch16_224.dino/main/model.safetensors');
    expect(download.stdout.trim()).toBe(file);
    expect(readFileSync(file)).toEqual(Buffer.from(bytes));

    const list = await cli(['weights', 'list'], env);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(`cache ${path.join(cache, 'weights')}`);
    expect(list.stdout).toMatch(/dino_vits16 +DINO ViT-S\/16.*hf:timm\/vit_small_patch16_224\.dino; backbone \{ use: vit, variant: small\/16 \} +\[cached\]/);
    expect(list.stdout).toMatch(/torchvision_resnet50 +.*hf:timm\/resnet50\.tv_in1k; backbone \{ use: resnet50 \}$/m);

    const offline = await cli(['weights', 'download', 'dino_vitb8'], { ...env, BT_PLATFORM_OFFLINE: '1' });
    expect(offline.code).toBe(1);
    expect(offline.stderr).toContain('error[WEIGHTS_UNAVAILABLE]: Offline mode');
    expect(offline.stderr).toContain('hint: Download it once with network access');
  });
});
