/**
 * One masking of credentials for everything the platform and its plugins write or send: run
 * files, logs, and uploads to tracking services.
 */

/** What a masked secret is replaced by. */
export const REDACTED = '<redacted>';

/** Names of config keys and environment variables whose values are credentials (`auth` but not `author`). */
const SECRET_NAME = /api[_-]?key|apikey|token|secret|password|passwd|credential|auth(?!or)|private[_-]?key/i;

/**
 * Credentials recognisable by their form wherever they are pasted (a note, a URL): GitHub, GitLab,
 * Hugging Face, OpenAI/Anthropic-style and Slack tokens, AWS access key ids, and the password of
 * `scheme://user:password@host`.
 */
const TOKEN_FORMS: Array<[RegExp, string]> = [
  [/\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,}|glpat-[A-Za-z0-9_-]{20,}|hf_[A-Za-z0-9]{30,}|sk-[A-Za-z0-9_-]{20,}|xox[abposr]-[A-Za-z0-9-]{10,}|(?:AKIA|ASIA)[A-Z0-9]{16})\b/g, REDACTED],
  [/\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@]+:)[^\s@/]+@/gi, `$1${REDACTED}@`],
];

/** Whether a config key or environment variable name says its value is a credential. */
export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

/**
 * Values of environment variables named like credentials (WANDB_API_KEY, *_TOKEN, and any *_KEY)
 * of 8+ characters, longest first so that a secret containing another is masked whole.
 */
export function secretValues(env: NodeJS.ProcessEnv = process.env): string[] {
  const values = new Set<string>();
  for (const [name, value] of Object.entries(env)) {
    if (value && value.length >= 8 && (isSecretName(name) || /KEY$/i.test(name))) values.add(value);
  }
  return [...values].sort((a, b) => b.length - a.length);
}

/** `text` with every secret value (by default: the environment's) and every recognisable token masked. */
export function redactText(text: string, secrets: readonly string[] = secretValues()): string {
  let out = text;
  for (const secret of secrets) if (secret) out = out.split(secret).join(REDACTED);
  for (const [form, replacement] of TOKEN_FORMS) out = out.replace(form, replacement);
  return out;
}

/**
 * A deep copy with credentials masked: a key named like a credential loses its (non-object)
 * value, and every string has secret values and recognisable tokens masked.
 */
export function redact<T>(value: T, secrets: readonly string[] = secretValues()): T {
  const walk = (v: unknown, key?: string): unknown => {
    if (key !== undefined && isSecretName(key) && v !== undefined && v !== null && typeof v !== 'object') return REDACTED;
    if (typeof v === 'string') return redactText(v, secrets);
    if (Array.isArray(v)) return v.map((item) => walk(item));
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, item]) => [k, walk(item, k)]));
    return v;
  };
  return walk(value) as T;
}
