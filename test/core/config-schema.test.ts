import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse } from 'yaml';
import { configJsonSchema, resolveRun } from '@bt-platform/core';

const files = readdirSync('configs', { recursive: true, encoding: 'utf8' }).filter((f) => /\.(ya?ml|json)$/.test(f));

async function validator() {
  const { registry } = await resolveRun({}, process.cwd(), undefined, []);
  const schema = configJsonSchema(registry);
  return { schema, validate: new Ajv2020({ allErrors: true, strict: false }).compile(schema) };
}

const quickstart = () => parse(readFileSync('configs/quickstart.yaml', 'utf8'));

describe('the JSON Schema of configs', () => {
  let check: Awaited<ReturnType<typeof validator>>;
  beforeAll(async () => {
    check = await validator();
  });

  test.each(files)('accepts configs/%s (partial files and stages included)', (file) => {
    const config = parse(readFileSync(path.join('configs', file), 'utf8'));
    const ok = check.validate(config);
    expect(ok ? [] : check.validate.errors).toEqual([]);
  });

  test('reports a misspelled option against the component selected, in one error', () => {
    const config = quickstart();
    config.model.backbone.patchSiz = 8;
    expect(check.validate(config)).toBe(false);
    const errors = check.validate.errors!.filter((e) => e.keyword !== 'if');
    expect(errors).toEqual([expect.objectContaining({ instancePath: '/model/backbone', keyword: 'additionalProperties', params: { additionalProperty: 'patchSiz' } })]);
  });

  test('rejects misspelled keys in partial slots, stages, list edits and the trainer', () => {
    for (const edit of [
      (c: any) => (c.data.imageSiz = 32),
      (c: any) => (c.stages[0].data.modes = 'x'),
      (c: any) => (c.stages[1].callbacks = { $remove: ['predictions'], $append: [{ use: 'progress', stye: 'bar' }] }),
      (c: any) => (c.stages[1].callbacks = { $remov: ['predictions'] }),
      (c: any) => (c.trainer = { maxEpoch: 3 }),
      (c: any) => (c.model.backbone.use = 'vitt'),
      (c: any) => (c.seeed = 1),
    ]) {
      const config = quickstart();
      edit(config);
      expect({ config, valid: check.validate(config) }).toEqual({ config, valid: false });
    }
  });

  test('accepts the composition directives: $replace, null and list edits', () => {
    const config = quickstart();
    config.model.backbone = { $replace: true, use: 'resnet18', dilated: null };
    config.lrSchedule = null;
    config.stages[1].callbacks = { $remove: 'predictions', $prepend: [{ use: 'lr-monitor' }] };
    expect(check.validate(config) ? [] : check.validate.errors).toEqual([]);
  });

  test('accepts the example that extends the quickstart, editing its stages by name', () => {
    const example = parse(readFileSync('examples/plugin-tiny-cnn/quickstart-tiny-cnn.yaml', 'utf8'));
    delete example.model;
    delete example.loggers;
    for (const stage of example.stages) delete stage.model;
    expect(check.validate(example) ? [] : check.validate.errors).toEqual([]);
    const removal = { extends: './quickstart.yaml', stages: { $remove: ['scratch'] } };
    expect(check.validate(removal) ? [] : check.validate.errors).toEqual([]);
    expect(check.validate({ stages: { $remove: ['scratch'], $remov: [] } })).toBe(false);
  });

  test('carries the option descriptions of the main components', () => {
    const backbone = (check.schema.$defs.backbone.then.allOf as Array<{ then: { properties: Record<string, { description?: string }> } }>).map((b) => b.then.properties);
    const vit = backbone.find((p) => (p.use as { const?: string }).const === 'vit')!;
    expect(vit.variant.description).toMatch(/\w/);
    expect(check.schema.properties.trainer.properties.maxEpochs.description).toBe('Epochs to train.');
  });
});
