import { existsSync, promises as fsp } from 'node:fs';
import { BtError } from '../errors.js';
import { writeFileAtomic } from '../fs.js';
import type { Log } from '../log.js';
import { downloadWeights, sha256File } from './downloadWeights.js';
import { weightsSettings, weightsSource } from './weightsSource.js';
import type { WeightsEnv, RemoteWeights, WeightsSettings } from './weightsSource.js';

export interface CachedWeights {
  file: string;
  sha256: string;
  /** False when the cache already held the file. */
  downloaded: boolean;
}

/**
 * The cached copy of a remote source, checked against its recorded SHA-256 on every use;
 * downloaded when missing (or with `force`), never in offline mode.
 */
export async function ensureWeights(source: RemoteWeights, options: { settings: WeightsSettings; log?: Log; force?: boolean }): Promise<CachedWeights> {
  const { settings, log } = options;
  if (options.force) for (const f of [source.file, `${source.file}.sha256`, `${source.file}.partial`]) await fsp.rm(f, { force: true });
  const cached = await verifiedCache(source, log);
  if (cached) {
    log?.info(`Weights ${source.label}: ${source.file} (cached).`);
    return { file: source.file, sha256: cached, downloaded: false };
  }
  if (settings.offline) {
    throw new BtError('WEIGHTS_UNAVAILABLE', `Offline mode (BT_PLATFORM_OFFLINE or HF_HUB_OFFLINE is set), and ${source.label} is not in the cache (${source.file}).`, {
      hint: `Download it once with network access (\`npx bt-platform weights download ${source.label.split(' ')[0]}\`, with the same BT_PLATFORM_CACHE), unset offline mode, or set the weights option to a local .safetensors file.`,
    });
  }
  const downloaded = await downloadWeights(source, { settings, log });
  return { file: downloaded.file, sha256: downloaded.sha256, downloaded: true };
}

async function verifiedCache(source: RemoteWeights, log?: Log): Promise<string | undefined> {
  if (!existsSync(source.file)) return undefined;
  const actual = await sha256File(source.file);
  const expected = source.sha256?.toLowerCase() ?? (await recordedSha256(source.file));
  if (!expected) {
    // Put into the cache by hand: trusted once, checked from now on.
    await writeFileAtomic(`${source.file}.sha256`, `${actual}  ${source.file.split(/[\\/]/).pop()}\n`);
    return actual;
  }
  if (expected === actual) return actual;
  log?.warn(`The cached ${source.file} no longer matches its sha256 (${expected}; the file has ${actual}): removed, to be downloaded again.`);
  await fsp.rm(source.file, { force: true });
  await fsp.rm(`${source.file}.sha256`, { force: true });
  return undefined;
}

/** The checksum recorded beside a cached file (sha256sum format), if any. */
export async function recordedSha256(file: string): Promise<string | undefined> {
  try {
    return /^([0-9a-f]{64})\b/i.exec(await fsp.readFile(`${file}.sha256`, 'utf8'))?.[1].toLowerCase();
  } catch {
    return undefined;
  }
}

export interface ResolveWeightsOptions {
  /** The config key, e.g. `model.backbone (vit).weights`, named in errors. */
  option?: string;
  /** Where the cache, offline mode and Hub endpoint are read from; process.env by default. */
  env?: WeightsEnv;
}

/**
 * The local file a `weights:` value stands for: a path (resolved against the config file) as it
 * is; a known name, `hf:<owner>/<repo>` or URL from the cache, downloaded once when missing.
 */
export async function resolveWeights(spec: string, ctx: { resolvePath(p: string): string; log?: Log }, options: ResolveWeightsOptions = {}): Promise<string> {
  const settings = weightsSettings(options.env);
  const source = weightsSource(spec, { resolvePath: (p) => ctx.resolvePath(p), settings, option: options.option });
  if (source.kind === 'file') return source.file;
  return (await ensureWeights(source, { settings, log: ctx.log })).file;
}
