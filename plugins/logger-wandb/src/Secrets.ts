/** Names of config keys and environment variables whose values are credentials. */
const SECRET_NAME = /(api[_-]?key|apikey|token|secret|password|passwd|credential|auth|private[_-]?key)/i;
const REDACTED = '<redacted>';

/** Values of environment variables that look like credentials (WANDB_API_KEY, *_TOKEN, …), longest first. */
export function secretValues(env: NodeJS.ProcessEnv = process.env): string[] {
  const values = new Set<string>();
  for (const [name, value] of Object.entries(env)) {
    if (value && value.length >= 8 && SECRET_NAME.test(name)) values.add(value);
  }
  return [...values].sort((a, b) => b.length - a.length);
}

/** Replaces every secret value inside `text`: applied to every message this plugin logs or stores. */
export function scrub(text: string, secrets: readonly string[] = secretValues()): string {
  let out = text;
  for (const secret of secrets) out = out.split(secret).join(REDACTED);
  return out;
}

/**
 * A deep copy of a config with credentials removed: keys named like a credential lose their value,
 * and any string that contains a secret environment value has it replaced.
 */
export function redactConfig(value: unknown, secrets: readonly string[] = secretValues()): unknown {
  if (typeof value === 'string') return scrub(value, secrets);
  if (Array.isArray(value)) return value.map((v) => redactConfig(v, secrets));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
      out[key] = SECRET_NAME.test(key) && v !== null && typeof v !== 'object' ? REDACTED : redactConfig(v, secrets);
    }
    return out;
  }
  return value;
}
