import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import * as tar from 'tar';
import { BtError, Slots, type CommandDefinition, type ComponentDefinition } from '@bt-platform/sdk';
import plugin, { synthesizeVoc, VocDataModule } from '@bt-platform/plugin-datamodule-voc';
import { tempDir, testContext } from './vocTestKit.js';

function command(name: string): CommandDefinition {
  const found = plugin.commands?.find((c) => c.name === name);
  if (!found) throw new Error(`no command ${name}`);
  return found;
}

function cliContext() {
  const lines: string[] = [];
  const ctx = {
    cwd: tempDir(),
    log: { debug() {}, info: (m: string) => void lines.push(m), warn: (m: string) => void lines.push(m), error: (m: string) => void lines.push(m) },
    openSession: async (): Promise<never> => {
      throw new Error('the data commands need no run session');
    },
  };
  return { lines, ctx };
}

describe('plugin', () => {
  it('registers the voc datamodule with its options and defaults', async () => {
    const components: Array<{ slot: unknown; definition: ComponentDefinition<unknown> }> = [];
    plugin.register?.({ component: (slot, definition) => components.push({ slot, definition: definition as ComponentDefinition<unknown> }) }, undefined);
    expect(components).toHaveLength(1);
    expect(components[0].slot).toBe(Slots.datamodule);
    const { definition } = components[0];
    expect(definition.name).toBe('voc');
    const options = definition.options!.parse({}) as Record<string, unknown>;
    expect(options).toMatchObject({ mode: 'barlow-twins', imageSize: 224, root: 'data/voc', generate: false, workers: 'auto', prefetch: 2 });
    expect(options.augment).toMatchObject({ cropScale: [0.08, 1], hflip: 0.5, grayscale: 0.2, blur: { p: [1, 0.1], sigma: [0.1, 2] }, solarize: [0, 0.2] });
    expect(() => definition.options!.parse({ batchsize: 3 })).toThrow();
    const dm = (await definition.create(options, testContext().ctx as never)) as VocDataModule;
    expect(dm.numClasses).toBe(21);
    expect(dm.classNames[15]).toBe('person');
    expect(dm.ignoreIndex).toBe(255);
    expect(dm.palette[1]).toEqual([128, 0, 0]);
    expect(dm.palette[255]).toEqual([224, 224, 192]);
    expect(dm.normalization.mean).toEqual([0.485, 0.456, 0.406]);
  });

  it('data synth writes a set from string options', async () => {
    const { ctx, lines } = cliContext();
    await command('data synth').run([], { out: 'set', images: '3', seed: '1', minSize: '20', maxSize: '24' }, ctx);
    expect(readdirSync(path.join(ctx.cwd, 'set/VOCdevkit/VOC2012/JPEGImages'))).toHaveLength(3);
    expect(lines.join('\n')).toContain('Wrote 3 images');
    await expect(command('data synth').run([], { out: 'x', images: 'many', seed: '0', minSize: '20', maxSize: '24' }, ctx)).rejects.toThrow('--images');
  });
});

describe('data download voc', () => {
  let tarBytes: Buffer;
  let md5: string;
  let server: http.Server;
  let url: string;
  const ranges: Array<string | undefined> = [];
  let cutNext = false;
  let partFile = '';

  beforeAll(async () => {
    const src = tempDir();
    await synthesizeVoc(src, { images: 3, seed: 2, minSize: 20, maxSize: 24 });
    const file = path.join(src, 'small.tar');
    await tar.c({ file, cwd: src }, ['VOCdevkit']);
    tarBytes = readFileSync(file);
    md5 = createHash('md5').update(tarBytes).digest('hex');
    server = http.createServer((req, res) => {
      if (!req.url?.endsWith('.tar')) {
        res.writeHead(404).end();
        return;
      }
      const range = req.headers.range;
      ranges.push(range);
      const start = range ? Number(/bytes=(\d+)-/.exec(range)![1]) : 0;
      const body = tarBytes.subarray(start);
      res.writeHead(range ? 206 : 200, {
        'content-length': body.length,
        ...(range ? { 'content-range': `bytes ${start}-${tarBytes.length - 1}/${tarBytes.length}` } : {}),
      });
      if (cutNext) {
        // Drop the connection half way, as a network failure would.
        cutNext = false;
        const half = Math.floor(body.length / 2);
        res.write(body.subarray(0, half));
        // Cut only once the client has stored what it received, so the test knows what must be resumed.
        const poll = setInterval(() => {
          if (existsSync(partFile) && statSync(partFile).size >= half) {
            clearInterval(poll);
            res.socket?.destroy();
          }
        }, 5);
        return;
      }
      res.end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/VOCtrainval_11-May-2012.tar`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('resumes an interrupted download with a Range request, verifies the checksum and unpacks', async () => {
    const { ctx, lines } = cliContext();
    ranges.length = 0;
    cutNext = true;
    partFile = path.join(ctx.cwd, 'voc/VOCtrainval_11-May-2012.tar.part');
    const error = await command('data download voc').run([], { out: 'voc', url, md5 }, ctx).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BtError);
    expect((error as BtError).hint).toContain('resumes');
    const part = path.join(ctx.cwd, 'voc/VOCtrainval_11-May-2012.tar.part');
    const kept = readFileSync(part).length;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(tarBytes.length);

    await command('data download voc').run([], { out: 'voc', url, md5 }, ctx);
    expect(ranges).toEqual([undefined, `bytes=${kept}-`]);
    expect(lines.join('\n')).toContain('Resuming');
    expect(lines.join('\n')).toMatch(/Downloading VOCtrainval_11-May-2012\.tar: .* \(100\.0%\)/);
    expect(lines.join('\n')).toContain('Checksum verified');
    const voc = path.join(ctx.cwd, 'voc/VOCdevkit/VOC2012');
    expect(readdirSync(path.join(voc, 'JPEGImages'))).toHaveLength(3);
    expect(existsSync(path.join(voc, 'ImageSets/Segmentation/train.txt'))).toBe(true);
    expect(existsSync(part)).toBe(false);
    expect(existsSync(path.join(ctx.cwd, 'voc/VOCtrainval_11-May-2012.tar'))).toBe(false);
  });

  it('takes the URL and checksum from the environment, and removes a download whose checksum is wrong', async () => {
    const { ctx } = cliContext();
    process.env.BT_VOC_URL = url;
    process.env.BT_VOC_MD5 = '0'.repeat(32);
    try {
      const error = (await command('data download voc').run([], { out: 'voc' }, ctx).catch((e: unknown) => e)) as BtError;
      expect(error).toBeInstanceOf(BtError);
      expect(error.code).toBe('DATA_CORRUPT');
      expect(error.message).toContain(`expected MD5 ${'0'.repeat(32)}, got ${md5}`);
      expect(readdirSync(path.join(ctx.cwd, 'voc'))).toEqual([]);
    } finally {
      delete process.env.BT_VOC_URL;
      delete process.env.BT_VOC_MD5;
    }
  });

  it('says what failed when the server answers with an error', async () => {
    const { ctx } = cliContext();
    const error = (await command('data download voc').run([], { out: 'voc', url: url.replace('.tar', '.zip'), md5 }, ctx).catch((e: unknown) => e)) as BtError;
    expect(error).toBeInstanceOf(BtError);
    expect(error.code).toBe('DATA_MISSING');
    expect(error.message).toContain('HTTP 404');
  });
});
