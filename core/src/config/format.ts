import { z } from 'zod';

/** Walks object schemas (through defaults, optionals and arrays) to list the keys allowed at `path`. */
export function allowedKeysAt(schema: z.ZodType, path: PropertyKey[]): string[] | undefined {
  let current: z.ZodType | undefined = schema;
  for (const key of [...path, undefined]) {
    while (current && (current instanceof z.ZodDefault || current instanceof z.ZodOptional || current instanceof z.ZodNullable)) {
      current = (current as any).def.innerType as z.ZodType;
    }
    if (key === undefined) break;
    if (current instanceof z.ZodObject) current = (current.shape as Record<string, z.ZodType>)[String(key)];
    else if (current instanceof z.ZodArray) current = (current as any).def.element as z.ZodType;
    else return undefined;
  }
  return current instanceof z.ZodObject ? Object.keys(current.shape) : undefined;
}

export function valueAt(value: unknown, path: PropertyKey[]): unknown {
  return path.reduce<unknown>((v, k) => (v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k] : undefined), value);
}

export function joinPath(prefix: string, path: PropertyKey[]): string {
  return [prefix, ...path.map(String)].filter(Boolean).join('.');
}

export function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}

/**
 * One line per problem: the key path, what is wrong, the value found and what is allowed.
 * `prefix` places the checked object inside the whole config (e.g. `model.backbone`).
 */
export function describeIssues(error: z.ZodError, schema: z.ZodType, input: unknown, prefix = ''): string[] {
  const lines: string[] = [];
  for (const issue of error.issues) {
    const at = joinPath(prefix, issue.path);
    if (issue.code === 'unrecognized_keys') {
      const allowed = allowedKeysAt(schema, issue.path) ?? [];
      for (const key of issue.keys) {
        const suggestion = closest(key, allowed);
        const where = at ? ` in ${at}` : '';
        const options = allowed.length ? `Allowed keys${where}: ${allowed.join(', ')}` : `Nothing else is allowed${where}`;
        lines.push(`${joinPath(at, [key])}: unknown key${suggestion ? ` (did you mean "${suggestion}"?)` : ''}. ${options}`);
      }
      continue;
    }
    const found = valueAt(input, issue.path);
    let detail = issue.message;
    if (issue.code === 'invalid_value') detail = `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    lines.push(`${at || '(root)'}: ${detail} (got ${show(found)})`);
  }
  return lines;
}

/** The allowed name nearest to `name` by edit distance, if it is close. */
export function closest(name: string, allowed: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of allowed) {
    const d = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = candidate;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const saved = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = saved;
    }
  }
  return row[b.length];
}
