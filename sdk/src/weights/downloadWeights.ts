import { createHash } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
import path from 'node:path';
import { BtError, ConfigError } from '../errors.js';
import { writeFileAtomic } from '../fs.js';
import type { Log } from '../log.js';
import { redactText } from '../secrets.js';
import type { RemoteWeights, WeightsSettings } from './weightsSource.js';

/** Downloads at least this large report progress, a line per tenth. */
const PROGRESS_MIN_BYTES = 4 << 20;
const MAX_REDIRECTS = 10;
const SHA256 = /^[0-9a-f]{64}$/i;

export interface DownloadOptions {
  settings: WeightsSettings;
  log?: Log;
}

export interface DownloadedWeights {
  file: string;
  sha256: string;
  /** Where the checksum the file was verified against came from; undefined when it was recorded on this download. */
  verifiedAgainst?: string;
}

interface Checksum {
  sha256: string;
  from: string;
}

interface Reply {
  response: Response;
  checksum?: Checksum;
}

/**
 * Downloads `source.url` into the cache: appends to `<file>.partial`, resuming an interrupted
 * download with an HTTP Range request; verifies the SHA-256 against the published one, the Hub's
 * (`X-Linked-Etag`) or a `<url>.sha256` beside the file, records it as `<file>.sha256`, and only then
 * renames the partial file into place, so the cache never holds a partial or unverified file.
 */
export async function downloadWeights(source: RemoteWeights, options: DownloadOptions): Promise<DownloadedWeights> {
  const { settings, log } = options;
  const partial = `${source.file}.partial`;
  await fsp.mkdir(path.dirname(source.file), { recursive: true });
  let start = await sizeOf(partial);
  let reply = await request(source, settings, start > 0 ? { Range: `bytes=${start}-` } : {});
  let complete = false;
  if (start > 0) {
    const { status, headers } = reply.response;
    const range = headers.get('content-range') ?? '';
    if (status === 206 && Number(/^bytes (\d+)-/.exec(range)?.[1]) === start) {
      log?.info(`Resuming ${source.label} at ${formatBytes(start)}.`);
    } else if (status === 416 && Number(/\/(\d+)$/.exec(range)?.[1]) === start) {
      // The partial file already holds every byte: only verification is left.
      await cancel(reply.response);
      complete = true;
    } else if (status === 200) {
      log?.info(`${new URL(source.url).host} does not resume downloads; downloading ${source.label} from the start.`);
      start = 0;
    } else if (status === 206 || status === 416) {
      // A range other than the one asked for: the partial file cannot be trusted.
      await cancel(reply.response);
      await fsp.rm(partial, { force: true });
      start = 0;
      reply = await request(source, settings, {});
    }
  }
  if (!complete) {
    await expectSuccess(reply.response, source);
    await receive(reply.response, partial, start, source, log);
  }

  const actual = await sha256File(partial);
  const expected: Checksum | undefined = source.sha256
    ? { sha256: source.sha256.toLowerCase(), from: 'the published checksum' }
    : (reply.checksum ?? (source.hub ? undefined : await publishedChecksum(source.url)));
  if (expected && expected.sha256 !== actual) {
    await fsp.rm(partial, { force: true });
    throw new BtError('WEIGHTS_CORRUPT', `Checksum mismatch for ${source.label}: expected sha256 ${expected.sha256} (${expected.from}), the download has ${actual}. The partial download ${partial} was deleted.`, {
      hint: 'Run again to download afresh. If it happens again, the server sends another file than its checksum names (a changed upload, or a proxy rewriting it): check the name or URL.',
    });
  }
  await writeFileAtomic(`${source.file}.sha256`, `${actual}  ${path.basename(source.file)}\n`);
  await fsp.rename(partial, source.file);
  const size = await sizeOf(source.file);
  log?.info(`Downloaded ${source.label} to ${source.file} (${formatBytes(size)}, sha256 ${actual}, ${expected ? `verified against ${expected.from}` : 'recorded to verify the cached file from now on'}).`);
  return { file: source.file, sha256: actual, verifiedAgainst: expected?.from };
}

/** Follows redirects by hand, to read the Hub's checksum headers on the redirect and to send the token to the Hub only. */
async function request(source: RemoteWeights, settings: WeightsSettings, headers: Record<string, string>): Promise<Reply> {
  let url = new URL(source.url);
  let checksum: Checksum | undefined;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const auth: Record<string, string> = source.hub && settings.hfToken && url.origin === source.hub.origin ? { Authorization: `Bearer ${settings.hfToken}` } : {};
    let response: Response;
    try {
      response = await fetch(url, { headers: { 'User-Agent': 'bt-platform', ...headers, ...auth }, redirect: 'manual' });
    } catch (error) {
      throw unreachable(source, url, settings, error);
    }
    checksum ??= headerChecksum(response.headers, source);
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location) {
      await cancel(response);
      url = new URL(location, url);
      continue;
    }
    return { response, checksum };
  }
  throw new BtError('WEIGHTS_UNAVAILABLE', `Download of ${source.label} was redirected more than ${MAX_REDIRECTS} times (last to ${redactText(url.href)}).`, {
    hint: 'The server (or a proxy in between) redirects in a loop; try again later or download the file by hand and give its path.',
  });
}

/** The Hub names an LFS file's SHA-256 in `X-Linked-Etag` (its plain `ETag` is that too, or a git hash for small files). */
function headerChecksum(headers: Headers, source: RemoteWeights): Checksum | undefined {
  const linked = unquote(headers.get('x-linked-etag'));
  if (linked && SHA256.test(linked)) return { sha256: linked.toLowerCase(), from: 'the X-Linked-Etag header' };
  const etag = unquote(headers.get('etag'));
  // Other servers' ETags are often hex digests of something else, so only the Hub's is taken as the SHA-256.
  if (source.hub && etag && SHA256.test(etag)) return { sha256: etag.toLowerCase(), from: 'the ETag header' };
  return undefined;
}

function unquote(value: string | null): string | undefined {
  return value?.replace(/^W\//, '').replace(/^"|"$/g, '').trim() || undefined;
}

/** A `<url>.sha256` (sha256sum format) published beside a plain URL's file; any failure means none. */
async function publishedChecksum(url: string): Promise<Checksum | undefined> {
  const sidecar = new URL(url);
  sidecar.pathname += '.sha256';
  try {
    const response = await fetch(sidecar, { headers: { 'User-Agent': 'bt-platform' } });
    if (response.status !== 200) {
      await cancel(response);
      return undefined;
    }
    const hash = /^\s*([0-9a-f]{64})\b/i.exec((await response.text()).slice(0, 4096))?.[1];
    return hash ? { sha256: hash.toLowerCase(), from: `${redactText(sidecar.href)}` } : undefined;
  } catch {
    return undefined;
  }
}

async function expectSuccess(response: Response, source: RemoteWeights): Promise<void> {
  const { status, statusText } = response;
  if (status === 200 || status === 206) return;
  await cancel(response);
  const http = `HTTP ${status}${statusText ? ` ${statusText}` : ''}`;
  const hub = source.hub;
  const names = '`npx bt-platform weights list` shows the known names.';
  if (status === 404 || status === 401 || status === 410) {
    const what = hub
      ? `the Hugging Face Hub has no file ${hub.file} in repo ${hub.repo} at revision ${hub.revision} (${http}${status === 401 ? ': the repo does not exist, or it is private or gated' : ''})`
      : `${redactText(source.url)} answered ${http}`;
    throw new ConfigError('WEIGHTS_NOT_FOUND', `Weights ${source.label} not found: ${what}.`, {
      hint: hub
        ? `Check the repo and file name (${hub.origin}/${hub.repo}/tree/${hub.revision} lists the files); for a private or gated repo set HF_TOKEN. ${names}`
        : `Check the URL. ${names}`,
    });
  }
  throw new BtError('WEIGHTS_UNAVAILABLE', `Download of ${source.label} failed: ${redactText(source.url)} answered ${http}.`, {
    hint:
      status === 403 && hub
        ? `The repo may be gated: accept its terms on ${hub.origin}/${hub.repo} and set HF_TOKEN to a token of that account.`
        : 'Try again later (an interrupted download resumes); or download the file by hand and set the weights option to its path.',
  });
}

async function receive(response: Response, partial: string, start: number, source: RemoteWeights, log?: Log): Promise<void> {
  const length = Number(response.headers.get('content-length') ?? NaN);
  const total = Number.isFinite(length) ? start + length : undefined;
  const progress = log && total !== undefined && total >= PROGRESS_MIN_BYTES;
  let tenth = total ? Math.floor((10 * start) / total) : 0;
  let received = start;
  const file = await fsp.open(partial, start > 0 ? 'a' : 'w');
  try {
    if (!response.body) throw new Error('the response has no body');
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      await file.write(chunk);
      received += chunk.length;
      if (progress && Math.floor((10 * received) / total) > tenth) {
        tenth = Math.floor((10 * received) / total);
        log.info(`Downloading ${source.label}: ${tenth * 10}% (${formatBytes(received)} of ${formatBytes(total)})`);
      }
    }
  } catch (error) {
    throw new BtError('WEIGHTS_UNAVAILABLE', `Download of ${source.label} broke off after ${formatBytes(received)}: ${messageOf(error)}.`, {
      hint: `Run again: it resumes from ${partial}.`,
      cause: error,
    });
  } finally {
    await file.close();
  }
  if (total !== undefined && received !== total) {
    throw new BtError('WEIGHTS_UNAVAILABLE', `Download of ${source.label} ended after ${formatBytes(received)} of ${formatBytes(total)}.`, {
      hint: `Run again: it resumes from ${partial}.`,
    });
  }
}

function unreachable(source: RemoteWeights, url: URL, settings: WeightsSettings, error: unknown): BtError {
  const mirror = source.hub ? ' (BT_PLATFORM_HF_ENDPOINT or HF_ENDPOINT selects a Hub mirror)' : '';
  return new BtError('WEIGHTS_UNAVAILABLE', `Cannot reach ${url.host} to download ${source.label}: ${messageOf(error)}.`, {
    hint: `Check the network connection${mirror}. Without network, set BT_PLATFORM_OFFLINE=1 to use weights already in the cache (${settings.cacheDir}), or set the weights option to a local .safetensors file.`,
    cause: error,
  });
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function sizeOf(file: string): Promise<number> {
  try {
    return (await fsp.stat(file)).size;
  } catch {
    return 0;
  }
}

async function cancel(response: Response): Promise<void> {
  await response.body?.cancel().catch(() => undefined);
}

function formatBytes(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MB` : `${(n / 1024).toFixed(1)} KB`;
}

/** fetch says only "fetch failed"; the reason (ECONNREFUSED, ENOTFOUND, …) is in its cause. Duck-typed: fetch's errors may come from another realm. */
function messageOf(error: unknown): string {
  type Failure = { message?: unknown; code?: string; cause?: Failure; errors?: Failure[] };
  const failure = (typeof error === 'object' && error !== null ? error : {}) as Failure;
  const text = typeof failure.message === 'string' ? failure.message : String(error);
  const cause = failure.cause;
  const code = cause?.code ?? cause?.errors?.find((e) => e.code)?.code;
  const detail = typeof cause?.message === 'string' && cause.message ? ` (${cause.message})` : code ? ` (${code})` : '';
  return redactText(text + detail);
}
