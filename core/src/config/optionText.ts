import { stringify } from 'yaml';

type JsonSchema = Record<string, unknown>;

/** A default as it is written in a YAML config: `auto`, `0.001`, `[train, val]`, `{}`. */
export function formatDefault(value: unknown): string {
  return stringify(value, { collectionStyle: 'flow', flowCollectionPadding: false, lineWidth: 0 }).trim();
}

/** An option's type from its JSON Schema: `integer`, `"min"|"max"`, `"auto"|integer`, `number[]`, `[number, number]`. */
export function formatType(schema: JsonSchema): string {
  if (Array.isArray(schema.enum)) return schema.enum.map((v) => JSON.stringify(v)).join('|');
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  const variants = (schema.anyOf ?? schema.oneOf) as JsonSchema[] | undefined;
  if (variants) return [...new Set(variants.map(formatType))].join('|');
  if (Array.isArray(schema.prefixItems)) return `[${(schema.prefixItems as JsonSchema[]).map(formatType).join(', ')}]`;
  if (schema.type === 'array' && schema.items && typeof schema.items === 'object' && !Array.isArray(schema.items)) {
    const item = formatType(schema.items as JsonSchema);
    return item === 'any' ? 'array' : `${item.includes('|') ? `(${item})` : item}[]`;
  }
  if (Array.isArray(schema.type)) return schema.type.join('|');
  return typeof schema.type === 'string' ? schema.type : 'any';
}
