import { createHash } from 'node:crypto';
import { createReadStream, existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { BtError, type Log } from '@bt-platform/sdk';
import { findVocDir } from './VocLayout.js';

export const VOC_TRAINVAL_URL = 'http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar';
export const VOC_TRAINVAL_MD5 = '6cd6e144f989b92b3379bac3b3de84fd';

export interface VocDownloadOptions {
  out: string;
  url: string;
  md5: string;
  /** Keep the tar after unpacking it. */
  keepTar?: boolean;
  log: Log;
}

/**
 * Downloads the VOC 2012 train/val tar into `out` (resuming a `.part` file left by an interrupted
 * run), verifies its MD5 and unpacks it there. Returns the VOC2012 directory.
 */
export async function downloadVoc(options: VocDownloadOptions): Promise<string> {
  const { out, url, log } = options;
  const md5 = options.md5.toLowerCase();
  await fsp.mkdir(out, { recursive: true });
  const tarPath = path.join(out, path.basename(new URL(url).pathname) || 'VOCtrainval.tar');
  const partPath = `${tarPath}.part`;

  if (existsSync(tarPath) && (await md5Of(tarPath)) === md5) {
    log.info(`${tarPath} is already complete; unpacking it.`);
  } else {
    await fetchResumable(url, partPath, log);
    const actual = await md5Of(partPath);
    if (actual !== md5) {
      await fsp.rm(partPath, { force: true });
      throw new BtError('DATA_CORRUPT', `Checksum mismatch for ${url}: expected MD5 ${md5}, got ${actual}. The download was removed.`, {
        hint: 'Run the command again to download afresh; if it fails again, the server sends a different file (check --url).',
      });
    }
    await fsp.rename(partPath, tarPath);
    log.info(`Checksum verified (MD5 ${md5}).`);
  }

  log.info(`Unpacking ${tarPath} into ${out} …`);
  const tar = await import('tar');
  await tar.x({ file: tarPath, cwd: out });
  if (!options.keepTar) await fsp.rm(tarPath, { force: true });
  const vocDir = findVocDir(out);
  if (!vocDir) {
    throw new BtError('DATA_CORRUPT', `${tarPath} unpacked, but no VOC2012 layout (JPEGImages, ImageSets) appeared under ${out}.`, {
      hint: 'Check that --url points to a VOC 2012 train/val tar.',
    });
  }
  log.info(`PASCAL VOC 2012 is ready in ${vocDir}; set data.root to ${out}.`);
  return vocDir;
}

async function fetchResumable(url: string, partPath: string, log: Log): Promise<void> {
  let start = existsSync(partPath) ? (await fsp.stat(partPath)).size : 0;
  let response: Response;
  try {
    response = await fetch(url, { headers: start > 0 ? { Range: `bytes=${start}-` } : {} });
  } catch (error) {
    throw new BtError('DATA_MISSING', `Cannot reach ${url}: ${messageOf(error)}.`, {
      hint: 'Check the network (or --url), or generate a VOC-format set with `npx bt-platform data synth --out DIR`.',
      cause: error,
    });
  }
  if (response.status === 416 && start > 0) {
    // The partial file already holds every byte.
    await response.body?.cancel();
    return;
  }
  if (response.status === 200 && start > 0) {
    log.info('The server does not resume downloads; starting over.');
    start = 0;
  } else if (response.status === 206) {
    const rangeStart = /bytes (\d+)-/.exec(response.headers.get('content-range') ?? '')?.[1];
    if (Number(rangeStart) !== start) {
      await response.body?.cancel();
      throw new BtError('DATA_MISSING', `The server answered the resume request at byte ${start} with range ${response.headers.get('content-range')}.`, {
        hint: `Delete ${partPath} and run the command again.`,
      });
    }
    log.info(`Resuming the download at ${formatBytes(start)}.`);
  } else if (response.status !== 200) {
    await response.body?.cancel();
    throw new BtError('DATA_MISSING', `Download of ${url} failed: HTTP ${response.status} ${response.statusText}.`, {
      hint: 'Check --url, or generate a VOC-format set with `npx bt-platform data synth --out DIR`.',
    });
  }
  const length = Number(response.headers.get('content-length') ?? NaN);
  const total = Number.isFinite(length) ? start + length : undefined;
  const file = await fsp.open(partPath, start > 0 ? 'a' : 'w');
  let received = start;
  let lastReport = 0;
  const report = (force: boolean) => {
    const now = Date.now();
    if (!force && now - lastReport < 5000) return;
    lastReport = now;
    const share = total ? ` of ${formatBytes(total)} (${((100 * received) / total).toFixed(1)}%)` : '';
    log.info(`Downloading ${path.basename(partPath, '.part')}: ${formatBytes(received)}${share}`);
  };
  try {
    if (!response.body) throw new Error('empty response body');
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      await file.write(chunk);
      received += chunk.length;
      report(false);
    }
  } catch (error) {
    throw new BtError('DATA_MISSING', `Download of ${url} was interrupted after ${formatBytes(received)}: ${messageOf(error)}.`, {
      hint: `Run the same command again: it resumes from ${partPath}.`,
      cause: error,
    });
  } finally {
    await file.close();
  }
  report(true);
  if (total !== undefined && received !== total) {
    throw new BtError('DATA_MISSING', `Download of ${url} ended after ${formatBytes(received)} of ${formatBytes(total)}.`, {
      hint: `Run the same command again: it resumes from ${partPath}.`,
    });
  }
}

async function md5Of(file: string): Promise<string> {
  const hash = createHash('md5');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function formatBytes(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MB` : `${(n / 1024).toFixed(1)} KB`;
}

function messageOf(error: unknown): string {
  const cause = error instanceof Error && error.cause instanceof Error ? ` (${error.cause.message})` : '';
  return (error instanceof Error ? error.message : String(error)) + cause;
}
