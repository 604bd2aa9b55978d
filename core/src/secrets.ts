const SECRET_KEY = /(api[_-]?key|token|secret|password|passwd|credential)/i;

/** Values of environment variables that look like secrets (WANDB_API_KEY, *_TOKEN, …). */
export function secretValues(env: NodeJS.ProcessEnv = process.env): string[] {
  return Object.entries(env)
    .filter(([name, value]) => SECRET_KEY.test(name) || /KEY$/i.test(name))
    .map(([, value]) => value ?? '')
    .filter((value) => value.length >= 8);
}

export function redactText(text: string, secrets: string[] = secretValues()): string {
  let out = text;
  for (const secret of secrets) out = out.split(secret).join('***');
  return out;
}

/** A deep copy with secret-looking keys and any secret value masked, for files, logs and uploads. */
export function redact<T>(value: T, secrets: string[] = secretValues()): T {
  const walk = (v: unknown, key?: string): unknown => {
    if (key && SECRET_KEY.test(key) && v !== undefined && v !== null && typeof v !== 'object') return '***';
    if (typeof v === 'string') return redactText(v, secrets);
    if (Array.isArray(v)) return v.map((item) => walk(item));
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, item]) => [k, walk(item, k)]));
    return v;
  };
  return walk(value) as T;
}
