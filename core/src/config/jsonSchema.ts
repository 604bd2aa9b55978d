import { Slots, z, type AnySlot } from '@bt-platform/sdk';
import type { Registry } from '../registry.js';
import { APPEND, PREPEND, REMOVE, REPLACE } from './mergeConfig.js';
import { runConfigSchema } from './schema.js';

type JsonSchema = Record<string, any>;

function toJson(schema: z.ZodType): JsonSchema {
  const { $schema: _, ...json } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  return json;
}

/** Also accepts `null`, which removes the key it overrides. */
function nullable(schema: JsonSchema): JsonSchema {
  if (schema.type === 'null') return schema;
  if (typeof schema.type === 'string') return { ...schema, type: [schema.type, 'null'], ...(schema.enum ? { enum: [...schema.enum, null] } : {}) };
  if (Array.isArray(schema.type)) return { ...schema, type: [...new Set([...schema.type, 'null'])], ...(schema.enum ? { enum: [...schema.enum, null] } : {}) };
  if (schema.anyOf) return { ...schema, anyOf: [...schema.anyOf, { type: 'null' }] };
  if (Object.keys(schema).every((k) => k === 'description' || k === 'default')) return schema;
  const { description, default: fallback, ...rest } = schema;
  return { ...(description ? { description } : {}), ...(fallback !== undefined ? { default: fallback } : {}), anyOf: [rest, { type: 'null' }] };
}

/**
 * Makes a schema describe a config that overrides a base: nothing is required (stages and
 * `extends` bases are partial), any key may be `null`, and every object may say `$replace: true`.
 */
function partial(schema: JsonSchema): JsonSchema {
  if (!schema || typeof schema !== 'object') return schema;
  const out: JsonSchema = { ...schema };
  delete out.required;
  if (out.properties) {
    out.properties = Object.fromEntries(Object.entries(out.properties as JsonSchema).map(([key, value]) => [key, nullable(partial(value))]));
    out.properties[REPLACE] = { type: 'boolean', description: 'true: replace the inherited object instead of merging into it.' };
  }
  for (const key of ['items', 'additionalProperties'] as const) if (out[key] && typeof out[key] === 'object') out[key] = partial(out[key]);
  for (const key of ['anyOf', 'oneOf', 'allOf'] as const) if (Array.isArray(out[key])) out[key] = out[key].map(partial);
  return out;
}

/**
 * One slot: `use` names a registered component, and `if`/`then` on `use` checks the options
 * against that component alone, so a validator reports a misspelled key against the component
 * selected. A partial slot without `use` (it merges into a base) may hold any of the slot's keys.
 */
function slotSchema(registry: Registry, slot: AnySlot, description: string | undefined): JsonSchema {
  const components = registry.all().filter((c) => c.slot === slot);
  const variants = components.map((c) => {
    const options = partial(c.definition.options ? toJson(c.definition.options) : { type: 'object', properties: {}, additionalProperties: false });
    return { name: c.definition.name, description: c.definition.description, options };
  });
  const optionKeys = [...new Set(variants.flatMap((v) => Object.keys(v.options.properties ?? {})))].sort();
  return {
    type: ['object', 'null'],
    ...(description ? { description } : {}),
    properties: {
      use: { enum: variants.map((v) => v.name), description: `The ${slot.key}: ${variants.map((v) => v.name).join(', ') || 'none registered'}.` },
      [REPLACE]: { type: 'boolean', description: 'true: replace the inherited component instead of merging into it (another `use` always does).' },
    },
    if: { type: 'object', required: ['use'] },
    then: {
      allOf: variants.map((v) => ({
        if: { properties: { use: { const: v.name } } },
        then: { ...v.options, ...(v.description ? { description: v.description } : {}), properties: { use: { const: v.name }, ...(v.options.properties ?? {}) }, additionalProperties: false },
      })),
    },
    else: { propertyNames: { enum: ['use', ...optionKeys] } },
  };
}

/** A list slot: the list itself, or `{ $append, $prepend, $remove }` editing the inherited one. */
function listSchema(item: JsonSchema, description: string | undefined): JsonSchema {
  const names = { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }], description: 'Entries to drop, by their `use`.' };
  return {
    type: ['array', 'object', 'null'],
    ...(description ? { description } : {}),
    items: item,
    properties: {
      [APPEND]: { type: 'array', items: item, description: 'Entries added after the inherited ones.' },
      [PREPEND]: { type: 'array', items: item, description: 'Entries added before the inherited ones.' },
      [REMOVE]: names,
    },
    additionalProperties: false,
  };
}

/** A pipeline's stages, or (extending a pipeline) `{ $append, $prepend, $remove }` editing them by stage name. */
function stagesSchema(keys: Record<string, JsonSchema>): JsonSchema {
  const stage = { type: 'object', properties: { name: { type: 'string', description: 'The stage name (its run directory, ${stages.<name>.<key>} references).' }, ...keys }, required: ['name'], additionalProperties: false };
  const schema = listSchema(stage, 'A pipeline: stages run in order, each merged over the keys above; extending a pipeline, stages merge by name.');
  schema.properties[REMOVE] = { ...schema.properties[REMOVE], description: 'Stages to drop, by their `name`.' };
  return schema;
}

/**
 * The JSON Schema of config files, for editors and validators: the run's keys, `extends` and
 * `stages`, and with a registry every registered component's options with their descriptions.
 * Every file a config is made of validates, partial ones too (a base, a stage).
 */
export function configJsonSchema(registry?: Registry): JsonSchema {
  const run = partial(toJson(runConfigSchema));
  const properties = run.properties as JsonSchema;
  delete properties[REPLACE];
  // Each slot's schema once, referenced from the run's keys, the list directives and every stage.
  const defs: JsonSchema = {};
  if (registry) {
    for (const slot of Object.values(Slots) as AnySlot[]) {
      const [head, tail] = slot.configPath.split('.');
      const current = tail ? properties[head]?.properties?.[tail] : properties[head];
      const description = current?.description;
      defs[slot.key] = slotSchema(registry, slot, slot.multi ? undefined : description);
      const ref = { $ref: `#/$defs/${slot.key}` };
      const target = slot.multi ? listSchema(ref, description) : ref;
      if (tail) properties[head].properties[tail] = target;
      else properties[head] = target;
    }
  }
  const extendsSchema = { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }], description: 'Config files (.yaml, .yml, .json) this one is merged over, relative to this file.' };
  const all = { ...properties, extends: extendsSchema };
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'bt-platform config',
    type: 'object',
    properties: {
      ...all,
      stages: stagesSchema(all),
    },
    additionalProperties: false,
    $defs: defs,
  };
}
