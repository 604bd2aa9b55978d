import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { stringify } from 'yaml';
import { ConfigError, isBtError, Slots, z, type AnySlot, type CommandDefinition } from '@bt-platform/sdk';
import { configJsonSchema } from './config/jsonSchema.js';
import { withComponentDefaults } from './config/componentDefaults.js';
import { formatDefault, formatType } from './config/optionText.js';
import { loadBuiltins } from './loader.js';
import { checkStages, loadPlugins, parseRunConfig, resolveRun } from './resolve.js';
import { RunLog } from './log.js';
import { loadRunConfig, openSession, run } from './run.js';
import { redact } from './secrets.js';

interface CommonOptions {
  config?: string;
  set?: string[];
  stage?: string;
  verbose?: boolean;
  quiet?: boolean;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

function withExample(command: Command, example: string): Command {
  return command.addHelpText('after', `\nExample:\n  $ npx bt-platform ${example}\n`);
}

/** The options of every command that reads a config, the same everywhere (plugin commands included). */
function withConfigOptions(command: Command, example: string): Command {
  return withExample(command, example)
    .option('-c, --config <file>', 'config file (default: bt-platform.config.* or .bt-platformrc* in the current directory or the nearest parent, up to the repository root)')
    .option('--set <key=value>', "override a config key, merged like a config file (e.g. --set trainer.maxEpochs=3, --set 'model.backbone={use: resnet50}'); repeatable", collect)
    .option('--stage <name>', 'for a pipeline config: only this stage (run: runs it alone; other commands use the last by default)')
    .option('-v, --verbose', 'debug output (backend details …) and stack traces')
    .option('-q, --quiet', 'only warnings and errors');
}

/** The stages a command works on: all, or the one `--stage` names. */
function chosenStages<T extends { name?: string }>(stages: T[], stage: string | undefined, file: string | undefined): T[] {
  if (!stage) return stages;
  const chosen = stages.filter((s) => s.name === stage);
  if (chosen.length) return chosen;
  const names = stages.map((s) => s.name).filter(Boolean);
  const where = file ?? 'config';
  throw new ConfigError('CONFIG_INVALID', names.length ? `${where}: no stage named "${stage}" (stages: ${names.join(', ')}).` : `${where} has no \`stages\`, so --stage ${stage} does not apply.`, {
    hint: names.length ? 'Use one of the names under `stages`.' : 'Drop --stage.',
  });
}

function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** Options of a component schema as `key = default  (type)  description` lines, defaults written as in a YAML config. */
function describeOptions(schema: z.ZodType | undefined): string[] {
  if (!schema) return [];
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as { properties?: Record<string, Record<string, unknown>> };
  return Object.entries(json.properties ?? {}).map(([key, p]) => {
    const def = p.default !== undefined ? ` = ${formatDefault(p.default)}` : '';
    return `${key}${def}  (${formatType(p)})${p.description ? `  ${p.description}` : ''}`;
  });
}

/** A plugin command reads a config when it declares \`-c, --config\`; the core then gives it the common config options. */
const CONFIG_FLAGS = /(^|[\s,])(--config|--set)\b/;

/** \`bt-platform <name> <args> <required options>\`, from the command's own declaration. */
function pluginExample(definition: CommandDefinition, takesConfig: boolean): string {
  const required = (definition.options ?? []).filter((o) => o.required).map((o) => o.flags.split(/[\s,]+/).filter((w) => w.startsWith('--') || w.startsWith('<')).join(' '));
  return [definition.name, takesConfig ? '-c my.yaml' : '', definition.args ?? '', ...required].filter(Boolean).join(' ');
}

function addPluginCommand(program: Command, definition: CommandDefinition, log: RunLog): void {
  const words = definition.name.split(/\s+/);
  let parent = program;
  for (const word of words.slice(0, -1)) {
    parent = parent.commands.find((c) => c.name() === word) ?? parent.command(word).description(`${word} commands`);
  }
  const takesConfig = (definition.options ?? []).some((o) => /--config\b/.test(o.flags));
  const command = parent.command(words.at(-1)!).description(definition.description);
  if (definition.args) command.arguments(definition.args);
  if (takesConfig) withConfigOptions(command, pluginExample(definition, true));
  else withExample(command, pluginExample(definition, false));
  for (const option of definition.options ?? []) {
    if (takesConfig && CONFIG_FLAGS.test(option.flags)) continue;
    const declared = new Option(option.flags, option.description);
    // Defaults are written as values (\`100\`, not \`"100"\`) in --help.
    if (option.default !== undefined) declared.default(option.default, String(option.default));
    if (option.required) declared.makeOptionMandatory();
    command.addOption(declared);
  }
  command.action(async (...args: unknown[]) => {
    const cmd = args.at(-1) as Command;
    const options = cmd.opts() as CommonOptions & Record<string, unknown>;
    const positional = (args.slice(0, -2) as Array<string | string[]>).flat();
    await definition.run(positional, options, {
      cwd: process.cwd(),
      log,
      // The command prints its own results: component logs only with -v.
      openSession: (o) => openSession({ stage: options.stage, ...o, verbose: options.verbose, quiet: !options.verbose }),
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
  const verbose = argv.includes('-v') || argv.includes('--verbose');
  const log = new RunLog(argv.includes('-q') || argv.includes('--quiet') ? 'warn' : verbose ? 'debug' : 'info');
  const program = new Command('bt-platform')
    .description('Barlow Twins pre-training and semantic segmentation, configured by a file and extended by plugins.')
    .version(platformVersion(), '-V, --version')
    .exitOverride()
    .showHelpAfterError();
  let exitCode = 0;

  withConfigOptions(program.command('run'), 'run -c configs/quickstart.yaml --set trainer.maxEpochs=3')
    .description('train (fit) with a config; a config with `stages` runs each stage in order')
    .option('--resume <checkpoint>', 'continue a run from a checkpoint written by the checkpoint plugin')
    .action(async (options: CommonOptions & { resume?: string }) => {
      const result = await run({ configFile: options.config, overrides: options.set, resume: options.resume, stage: options.stage, quiet: options.quiet, verbose: options.verbose, handleSignals: true });
      out(`run directory: ${result.runDir}`);
      if (result.status === 'interrupted') exitCode = 130;
    });

  withConfigOptions(program.command('test'), 'test -c my.yaml --checkpoint runs/my-run/checkpoints/last.safetensors')
    .description('evaluate a checkpoint on the test split (or, with --split val, the validation split) and print the metrics')
    .requiredOption('--checkpoint <file>', 'checkpoint whose model weights are evaluated')
    .option('--split <split>', 'test or val', 'test')
    .action(async (options: CommonOptions & { checkpoint: string; split: string }) => {
      const command = options.split === 'val' ? 'validate' : 'test';
      const result = await run({ configFile: options.config, overrides: options.set, resume: options.checkpoint, command, stage: options.stage, quiet: !options.verbose, verbose: options.verbose });
      out(metricsTable(result.metrics));
      out(`run directory: ${result.runDir}`);
    });

  withConfigOptions(program.command('validate'), "validate -c my.yaml --set 'model.backbone={use: resnet50}'")
    .description('check a config without running it and print the resolved config, every option with its default')
    .action(async (options: CommonOptions) => {
      const { loaded, stages } = await loadRunConfig({ configFile: options.config, overrides: options.set });
      // As `run` does before its first stage: components that do not fit together are errors.
      const warnings = (await checkStages(stages, loaded.dir, loaded.file, [], 'fit')).flat();
      for (const stage of chosenStages(stages, options.stage, loaded.file)) {
        const resolved = await resolveRun(stage.raw, loaded.dir, loaded.file, []);
        if (stage.name) out(`# stage ${stage.name}`);
        out(stringify(redact(withComponentDefaults(resolved).config)));
      }
      for (const warning of warnings) process.stderr.write(`warning: ${warning}\n`);
      const noted = warnings.length ? ` (${warnings.length} warning${warnings.length > 1 ? 's' : ''} above)` : '';
      process.stderr.write(`config OK${noted}: ${loaded.file ?? 'config'}\n`);
    });

  withConfigOptions(program.command('plugins'), 'plugins -c my.yaml')
    .description('list the loaded plugins and the components they register, per slot, with their options')
    .action(async (options: CommonOptions) => {
      let raw: Record<string, unknown> = {};
      let dir = process.cwd();
      let file: string | undefined;
      if (options.config) {
        const { loaded, stages } = await loadRunConfig({ configFile: options.config, overrides: options.set });
        raw = chosenStages(stages, options.stage, loaded.file)[0].raw;
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

  withExample(program.command('schema'), 'schema -c bt-platform.config.yaml -o bt-platform.schema.json')
    .description('write the JSON Schema of config files (every registered component\'s options, with descriptions) for editor completion and validation')
    .option('-c, --config <file>', 'also include the components of the third-party plugins this config lists (in any stage)')
    .option('-o, --out <file>', 'write to a file instead of stdout')
    .action(async (options: { config?: string; out?: string }) => {
      let plugins: unknown[] = [];
      let dir = process.cwd();
      let file: string | undefined;
      if (options.config) {
        const { loaded, stages } = await loadRunConfig({ configFile: options.config });
        plugins = stages.flatMap((stage) => (Array.isArray(stage.raw.plugins) ? stage.raw.plugins : []));
        ({ dir, file } = loaded);
      }
      const unique = [...new Map(plugins.map((p) => [JSON.stringify(p), p])).values()];
      const { registry } = await loadPlugins(parseRunConfig({ plugins: unique }, file), dir, file, []);
      const text = `${JSON.stringify(configJsonSchema(registry), null, 2)}\n`;
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
