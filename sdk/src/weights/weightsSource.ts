import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from '../errors.js';
import { redactText } from '../secrets.js';
import { KNOWN_WEIGHTS, knownWeights } from './knownWeights.js';

export type WeightsEnv = Readonly<Record<string, string | undefined>>;

/** Where weights are cached and fetched from, as the environment sets it. */
export interface WeightsSettings {
  /** `$BT_PLATFORM_CACHE/weights`, by default `~/.cache/bt-platform/weights`. */
  cacheDir: string;
  /** `BT_PLATFORM_OFFLINE` or `HF_HUB_OFFLINE`: use the cache only. */
  offline: boolean;
  /** `BT_PLATFORM_HF_ENDPOINT` or `HF_ENDPOINT` (a mirror), by default https://huggingface.co. */
  hfEndpoint: string;
  /** `HF_TOKEN`, sent to the Hub endpoint only, for private or gated repos. */
  hfToken?: string;
}

export function weightsSettings(env: WeightsEnv = process.env): WeightsSettings {
  const root = env.BT_PLATFORM_CACHE || path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'bt-platform');
  return {
    cacheDir: path.join(path.resolve(root), 'weights'),
    offline: [env.BT_PLATFORM_OFFLINE, env.HF_HUB_OFFLINE].some((v) => v !== undefined && /^(1|true|yes|on)$/i.test(v.trim())),
    hfEndpoint: (env.BT_PLATFORM_HF_ENDPOINT || env.HF_ENDPOINT || 'https://huggingface.co').replace(/\/+$/, ''),
    hfToken: env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN || undefined,
  };
}

export interface LocalWeights {
  kind: 'file';
  spec: string;
  file: string;
}

export interface RemoteWeights {
  kind: 'remote';
  /** What the config said, for messages (a known name shows its source too). */
  label: string;
  url: string;
  /** The verified file in the cache; `<file>.sha256` records its checksum. */
  file: string;
  /** The published checksum, when the registry knows one. */
  sha256?: string;
  /** Set for Hugging Face sources: named in errors, and the token goes to this origin only. */
  hub?: { repo: string; file: string; revision: string; origin: string };
}

export type WeightsSource = LocalWeights | RemoteWeights;

export interface WeightsSourceOptions {
  /** Resolves a relative path (against the config file's directory). */
  resolvePath(p: string): string;
  settings: WeightsSettings;
  /** The config key, e.g. `model.backbone (vit).weights`, named in errors. */
  option?: string;
}

const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;
const PYTORCH_FILE = /\.(bin|pth?|ckpt)$/i;
const CONVERT = 'python3 scripts/convert-weights.py';

/**
 * What a `weights:` value names: `hf:<owner>/<repo>[@<revision>][/<file>]` (default file
 * model.safetensors), an http(s) URL, a known name (`bt-platform weights list`), or else a file path.
 */
export function weightsSource(spec: string, options: WeightsSourceOptions): WeightsSource {
  const where = `${options.option ?? 'weights'} "${redactText(spec)}"`;
  const hub = /^hf(?:-hub)?:(.*)$/s.exec(spec);
  if (hub) return hubSource(spec, hub[1], options.settings, where);
  if (/^https?:\/\//i.test(spec)) return urlSource(spec, options.settings, where);
  const known = knownWeights(spec);
  if (known) {
    const source = weightsSource(known.source, options);
    if (source.kind !== 'remote') throw new Error(`known weights ${known.name} name no remote source`);
    return { ...source, label: `${known.name} (${known.source})`, sha256: known.sha256 };
  }
  const file = options.resolvePath(spec);
  // A bare word that is no file was meant as a name: say which names exist rather than "file not found".
  if (/^[A-Za-z0-9_-]+$/.test(spec) && !existsSync(file)) {
    throw new ConfigError('WEIGHTS_NOT_FOUND', `${where} is neither a known weights name nor a file (${file}).`, {
      hint: `Known names: ${KNOWN_WEIGHTS.map((k) => k.name).join(', ')}. Other forms: hf:<owner>/<repo>, an https URL of a .safetensors file, or a path.`,
    });
  }
  return { kind: 'file', spec, file };
}

function hubSource(spec: string, rest: string, settings: WeightsSettings, where: string): RemoteWeights {
  const [owner = '', repoAt = '', ...fileParts] = rest.split('/');
  const [repoName = '', revision = 'main', ...extra] = repoAt.split('@');
  const file = fileParts.length ? fileParts : ['model.safetensors'];
  const bad = [owner, repoName, revision].some((s) => !SEGMENT.test(s) || s.includes('..')) || extra.length > 0 || file.some((s) => !SEGMENT.test(s) || s.includes('..'));
  if (bad) {
    throw new ConfigError('CONFIG_INVALID', `${where} is not a Hugging Face Hub reference.`, {
      hint: 'Write hf:<owner>/<repo>, optionally @<revision> after the repo and /<file> after it, e.g. hf:timm/vit_small_patch16_224.dino or hf:timm/resnet50.tv_in1k@main/model.safetensors.',
    });
  }
  const filePath = file.join('/');
  rejectPytorchFile(filePath, where, `hf:${owner}/${repoName}`);
  const url = `${settings.hfEndpoint}/${owner}/${repoName}/resolve/${encodeURIComponent(revision)}/${file.map(encodeURIComponent).join('/')}`;
  return {
    kind: 'remote',
    label: spec,
    url,
    file: path.join(settings.cacheDir, 'hf', owner, repoName, revision, ...file),
    hub: { repo: `${owner}/${repoName}`, file: filePath, revision, origin: new URL(url).origin },
  };
}

function urlSource(spec: string, settings: WeightsSettings, where: string): RemoteWeights {
  let url: URL;
  try {
    url = new URL(spec);
  } catch {
    throw new ConfigError('CONFIG_INVALID', `${where} is not a valid URL.`, { hint: 'Give a full http(s) URL of a .safetensors file.' });
  }
  url.hash = '';
  const last = decodeURIComponent(url.pathname.split('/').pop() ?? '');
  rejectPytorchFile(last, where);
  const name = last.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '') || 'weights.safetensors';
  const host = url.host.replace(/[^A-Za-z0-9.-]/g, '_');
  // One folder per URL: same-named files from different paths or queries never collide.
  const key = createHash('sha256').update(url.href).digest('hex').slice(0, 16);
  return { kind: 'remote', label: redactText(spec), url: url.href, file: path.join(settings.cacheDir, 'url', host, key, name) };
}

function rejectPytorchFile(file: string, where: string, hub?: string): void {
  if (!PYTORCH_FILE.test(file)) return;
  throw new ConfigError('CONFIG_INVALID', `${where} names a PyTorch file (${file}); bt-platform reads only .safetensors weights.`, {
    hint: hub
      ? `Use the repo's model.safetensors (\`${hub}\`), or download ${file} and convert it with \`${CONVERT} ${file} model.safetensors\`.`
      : `Download it and convert it with \`${CONVERT} ${file} model.safetensors\` (or \`${CONVERT} --timm <timm name> out.safetensors\`), or use a safetensors copy on the Hugging Face Hub, e.g. hf:timm/resnet50.tv_in1k.`,
  });
}
