import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { redact } from './secrets.js';

/** Sections whose keys decide the model's tensors; `data` only counts when they agree (e.g. the number of classes). */
const MODEL_SECTIONS = ['model', 'task'];
const DATA_SECTIONS = ['data'];

function flatten(value: unknown, prefix: string, out: Map<string, string>): void {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const [key, item] of Object.entries(value)) flatten(item, prefix ? `${prefix}.${key}` : key, out);
  } else if (value !== undefined) {
    out.set(prefix, JSON.stringify(value));
  }
}

function changedKeys(before: Record<string, unknown>, after: Record<string, unknown>, sections: string[]): Array<[string, string, string]> {
  const a = new Map<string, string>();
  const b = new Map<string, string>();
  for (const section of sections) {
    flatten(before[section], section, a);
    flatten(after[section], section, b);
  }
  const keys = [...new Set([...a.keys(), ...b.keys()])];
  return keys.filter((k) => a.get(k) !== b.get(k)).map((k) => [k, a.get(k) ?? 'absent', b.get(k) ?? 'absent']);
}

/**
 * Says which model keys of `config` differ from the config saved in the run directory that wrote
 * `checkpointFile` (`<run>/config.yaml`, next to or above its folder), or undefined if that is unknown.
 */
export function checkpointConfigChanges(checkpointFile: string, config: unknown): string | undefined {
  const dir = path.dirname(checkpointFile);
  const written = [path.join(dir, 'config.yaml'), path.join(path.dirname(dir), 'config.yaml')].find((f) => existsSync(f));
  if (!written) return undefined;
  let before: unknown;
  try {
    before = parse(readFileSync(written, 'utf8'));
  } catch {
    return undefined;
  }
  if (!before || typeof before !== 'object') return undefined;
  const after = redact(config) as Record<string, unknown>;
  const old = before as Record<string, unknown>;
  let changes = changedKeys(old, after, MODEL_SECTIONS);
  if (changes.length === 0) changes = changedKeys(old, after, DATA_SECTIONS);
  if (changes.length === 0) return undefined;
  const [[key, was, now], ...rest] = changes;
  const more = rest.slice(0, 3).map(([k, w, n]) => `; ${k}: ${w} there, ${n} here`).join('');
  return `${key} is ${was} in ${written} and ${now} here${more}${rest.length > 3 ? ` (${changes.length} keys differ)` : ''}`;
}
