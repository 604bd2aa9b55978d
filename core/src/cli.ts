import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command, CommanderError } from 'commander';
import { stringify } from 'yaml';
import { isBtError, Slots, z, type AnySlot, type CommandDefinition } from '@bt-platform/sdk';
import { configJsonSchema } from './config/schema.js';
import { loadBuiltins } from './loader.js';
import { loadPlugins, parseRunConfig, resolveRun } from './resolve.js';
import { RunLog } from './log.js';
import { loadRunConfig, openSession, run } from './run.js';
import { redact } from './secrets.js';

interface CommonOptions {
  config?: string;
  set?: string[];
  verbose?: boolean;
  quiet?: boolean;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

function withConfigOptions(command: Command): Command {
  return command
    .option('-c, --config <file>', 'config file (default: bt-platform.config.* or .bt-platformrc* in the current directory)')
    .option('--set <key=value>', 'override a config key, e.g. --set trainer.maxEpochs=3 (repeatable)', collect, [])
    .option('-v, --verbose', 'debug output and stack traces')
    .option('-q, --quiet', 'only warnings and errors');
}

function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** Options of a component schema as `key=default  (type)` lines. */
function describeOptions(schema: z.ZodType | undefined): string[] {
  if (!schema) return [];
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as { properties?: Record<string, { default?: unknown; type?: string; enum?: unknown[]; description?: string }> };
  return Object.entries(json.properties ?? {}).map(([key, p]) => {
    const type = p.enum ? p.enum.map((v) => JSON.stringify(v)).join('|') : (p.type ?? 'any');
    const def = p.default !== undefined ? ` = ${JSON.stringify(p.default)}` : '';
    return `${key}${def}  (${type})${p.description ? `  ${p.description}` : ''}`;
  });
}

/** The JSON Schema of the config with every registered component's options, so editors complete `use:` names and their keys. */
export function fullJsonSchema(registry: Awaited<ReturnType<typeof loadPlugins>>['registry']): Record<string, unknown> {
  const schema = configJsonSchema() as { properties: Record<string, any> };
  const componentSchemas = (slot: AnySlot) => {
    const variants = registry.all().filter((c) => c.slot === slot).map((c) => {
      const options = c.definition.options ? (z.toJSONSchema(c.definition.options, { io: 'input', unrepresentable: 'any' }) as Record<string, any>) : { properties: {} };
      return {
        type: 'object',
        description: c.definition.description,
        properties: { use: { const: c.definition.name }, ...(options.properties ?? {}) },
        required: ['use'],
        additionalProperties: false,
      };
    });
    return variants.length ? { anyOf: variants } : { type: 'object' };
  };
  const props = schema.properties;
  for (const slot of Object.values(Slots) as AnySlot[]) {
    const [head, tail] = slot.configPath.split('.');
    const target = slot.multi ? { type: 'array', items: componentSchemas(slot) } : componentSchemas(slot);
    if (tail) props[head] = { type: 'object', properties: { ...(props[head]?.properties ?? {}), [tail]: target }, additionalProperties: false };
    else props[head] = target;
  }
  return schema;
}

function addPluginCommand(program: Command, definition: CommandDefinition, log: RunLog): void {
  const words = definition.name.split(/\s+/);
  let parent = program;
  for (const word of words.slice(0, -1)) {
    parent = parent.commands.find((c) => c.name() === word) ?? parent.command(word).description(`${word} commands`);
  }
  const command = parent.command(words.at(-1)!).description(definition.description);
  if (definition.args) command.arguments(definition.args);
  for (const option of definition.options ?? []) {
    if (option.required) command.requiredOption(option.flags, option.description, option.default as string);
    else command.option(option.flags, option.description, option.default as string);
  }
  command.action(async (...args: unknown[]) => {
    const cmd = args.at(-1) as Command;
    const positional = (args.slice(0, -2) as Array<string | string[]>).flat();
    await definition.run(positional, cmd.opts(), {
      cwd: process.cwd(),
      log,
      openSession: (o) => openSession({ ...o, quiet: true }),
    });
  });
}

/**
 * Metrics as a table: keys `<stage>/<metric>/<class>` become rows of classes by metric columns,
 * the rest one `name value` line each.
 */
export function metricsTable(metrics: Record<string, number>): string {
  const scalar: string[] = [];
  const grid = new Map<string, Map<string, number>>();
  // Scalars sorted by name; per-class rows keep the order the task reported them (class order).
  for (const [key, value] of Object.entries(metrics)) {
    const parts = key.split('/');
    if (parts.length >= 3) {
      const metric = parts.slice(0, -1).join('/');
      const row = grid.get(parts.at(-1)!) ?? new Map<string, number>();
      row.set(metric, value);
      grid.set(parts.at(-1)!, row);
    } else scalar.push(`${key.padEnd(28)} ${value.toFixed(4)}`);
  }
  scalar.sort();
  const columns = [...new Set([...grid.values()].flatMap((row) => [...row.keys()]))];
  const lines = [...scalar];
  if (columns.length) {
    const width = Math.max(12, ...[...grid.keys()].map((k) => k.length));
    lines.push('', `${'class'.padEnd(width)} ${columns.map((c) => c.padStart(14)).join(' ')}`);
    for (const [name, row] of grid) lines.push(`${name.padEnd(width)} ${columns.map((c) => (row.has(c) ? row.get(c)!.toFixed(4) : '-').padStart(14)).join(' ')}`);
  }
  return lines.join('\n');
}

function platformVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return manifest.version;
}

/** Parses `argv`, runs the command and returns the exit code (0 ok, 1 runtime error, 2 config error, 130 interrupted). */
export async function main(argv: string[]): Promise<number> {
  const log = new RunLog(argv.includes('-q') || argv.includes('--quiet') ? 'warn' : 'info');
  const verbose = argv.includes('-v') || argv.includes('--verbose');
  const program = new Command('bt-platform')
    .description('Barlow Twins pre-training and semantic segmentation, configured by a file and extended by plugins.')
    .version(platformVersion(), '-V, --version')
    .exitOverride()
    .showHelpAfterError();
  let exitCode = 0;

  withConfigOptions(program.command('run'))
    .description('train (fit) with a config; a config with `stages` runs each stage in order')
    .option('--resume <checkpoint>', 'continue a run from a checkpoint written by the checkpoint plugin')
    .option('--stage <name>', 'for a pipeline config: run only this stage (references to earlier stages are dropped)')
    .action(async (options: CommonOptions & { resume?: string; stage?: string }) => {
      const result = await run({ configFile: options.config, overrides: options.set, resume: options.resume, stage: options.stage, quiet: options.quiet, verbose: options.verbose, handleSignals: true });
      out(`run directory: ${result.runDir}`);
      if (result.status === 'interrupted') exitCode = 130;
    });

  withConfigOptions(program.command('test'))
    .description('evaluate a checkpoint on the test split (or, with --split val, the validation split) and print the metrics')
    .requiredOption('--checkpoint <file>', 'checkpoint whose model weights are evaluated')
    .option('--split <split>', 'test or val', 'test')
    .option('--stage <name>', 'for a pipeline config: the stage whose model is evaluated (default: the last)')
    .action(async (options: CommonOptions & { checkpoint: string; split: string; stage?: string }) => {
      const command = options.split === 'val' ? 'validate' : 'test';
      const result = await run({ configFile: options.config, overrides: options.set, resume: options.checkpoint, command, stage: options.stage, quiet: true, verbose: options.verbose });
      out(metricsTable(result.metrics));
      out(`run directory: ${result.runDir}`);
    });

  withConfigOptions(program.command('validate'))
    .description('check a config without running it and print the resolved config')
    .action(async (options: CommonOptions) => {
      const { loaded, stages } = await loadRunConfig({ configFile: options.config, overrides: options.set });
      for (const stage of stages) {
        const resolved = await resolveRun(stage.raw, loaded.dir, loaded.file, []);
        if (stage.name) out(`# stage ${stage.name}`);
        out(stringify(redact(resolved.config)));
      }
      process.stderr.write(`config OK: ${loaded.file ?? 'config'}\n`);
    });

  withConfigOptions(program.command('plugins'))
    .description('list the loaded plugins and the components they register, per slot, with their options')
    .action(async (options: CommonOptions) => {
      let raw: Record<string, unknown> = {};
      let dir = process.cwd();
      let file: string | undefined;
      if (options.config) {
        const { loaded, stages } = await loadRunConfig({ configFile: options.config, overrides: options.set });
        raw = stages[0].raw;
        dir = loaded.dir;
        file = loaded.file;
      }
      const { plugins, registry } = await loadPlugins(parseRunConfig(raw, file), dir, file, []);
      out('Plugins:');
      for (const p of plugins) out(`  ${p.plugin.name}${p.plugin.version ? `@${p.plugin.version}` : ''} (${p.source}${p.source === 'builtin' ? '' : `: ${p.spec}`})${p.plugin.description ? ` — ${p.plugin.description}` : ''}`);
      for (const slot of Object.values(Slots) as AnySlot[]) {
        const names = registry.names(slot);
        out(`\n${slot.configPath}${slot.multi ? '[]' : ''} (${slot.key}):`);
        if (!names.length) out('  (none registered)');
        for (const name of names) {
          const c = registry.find(slot, name)!;
          out(`  ${name}  [${c.plugin}]${c.definition.description ? ` — ${c.definition.description}` : ''}`);
          for (const line of describeOptions(c.definition.options)) out(`      ${line}`);
        }
      }
    });

  program
    .command('schema')
    .description('write the JSON Schema of config files (with every registered component\'s options) for editor completion')
    .option('-o, --out <file>', 'write to a file instead of stdout')
    .action(async (options: { out?: string }) => {
      const { registry } = await loadPlugins(parseRunConfig({}), process.cwd(), undefined, []);
      const text = `${JSON.stringify({ $schema: 'https://json-schema.org/draft/2020-12/schema', title: 'bt-platform config', ...fullJsonSchema(registry) }, null, 2)}\n`;
      if (options.out) {
        writeFileSync(path.resolve(options.out), text);
        log.info(`schema written to ${options.out}`);
      } else out(text);
    });

  try {
    const builtins = await loadBuiltins();
    for (const { plugin } of builtins) for (const definition of plugin.commands ?? []) addPluginCommand(program, definition, log);
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    if (isBtError(error)) {
      process.stderr.write(`error[${error.code}]: ${error.message}\n`);
      if (error.hint) process.stderr.write(`hint: ${error.hint}\n`);
      if (verbose && error.stack) process.stderr.write(`${error.stack}\n${error.cause instanceof Error ? `caused by: ${error.cause.stack}\n` : ''}`);
      else if (error.cause && error.code === 'HOOK_FAILED') process.stderr.write('(run with --verbose for the stack trace)\n');
      return error.exitCode;
    }
    const err = error as Error;
    process.stderr.write(`error: ${err?.message ?? String(error)}\n`);
    process.stderr.write(verbose ? `${err?.stack}\n` : '(run with --verbose for the stack trace)\n');
    return 1;
  }
}
