import { ConfigError, Slots, z, type AnySlot, type PluginDefinition, type RunStage } from '@bt-platform/sdk';
import { runConfigSchema, type ComponentSelection, type RunConfig } from './config/schema.js';
import { closest, describeIssues } from './config/format.js';
import { substituteStageRefs } from './config/load.js';
import { Compatibility } from './compatibility.js';
import { loadBuiltins, loadPlugin, type LoadedPlugin } from './loader.js';
import { Registry, type RegisteredComponent } from './registry.js';
import { checkStageRefs, type PipelineStage } from './stageRefs.js';

export interface Selection {
  /** Where in the config, e.g. `model.backbone` or `callbacks.2`. */
  at: string;
  component: RegisteredComponent;
  options: Record<string, unknown>;
}

export interface ResolvedRun {
  config: RunConfig;
  configFile?: string;
  configDir: string;
  plugins: LoadedPlugin[];
  registry: Registry;
  selections: Map<AnySlot, Selection[]>;
}

function where(file: string | undefined): string {
  return file ?? 'config';
}

function fail(file: string | undefined, lines: string[]): never {
  throw new ConfigError('CONFIG_INVALID', `Invalid config ${where(file)}:\n  ${lines.join('\n  ')}`, {
    hint: 'Fix the keys above; `npx bt-platform plugins` lists every component and its options, `npx bt-platform schema` writes a JSON Schema for editor completion.',
  });
}

export function parseRunConfig(raw: Record<string, unknown>, file?: string): RunConfig {
  const parsed = runConfigSchema.safeParse(raw);
  if (!parsed.success) fail(file, describeIssues(parsed.error, runConfigSchema, raw));
  return parsed.data;
}

function pluginOptions(entry: string | ComponentSelection): { spec: string; options: Record<string, unknown> } {
  if (typeof entry === 'string') return { spec: entry, options: {} };
  const { use, ...options } = entry;
  return { spec: use, options };
}

/** Loads built-in, configured and given plugins, checks their options and lets them register components. */
export async function loadPlugins(config: RunConfig, configDir: string, file: string | undefined, given: PluginDefinition[]): Promise<{ plugins: LoadedPlugin[]; registry: Registry }> {
  const plugins = await loadBuiltins();
  const byName = new Map(plugins.map((p) => [p.plugin.name, p]));
  const bySpec = new Map(plugins.map((p) => [p.spec, p]));
  for (const [i, entry] of config.plugins.entries()) {
    const { spec, options } = pluginOptions(entry);
    const builtin = bySpec.get(spec);
    if (builtin) {
      builtin.options = options;
      continue;
    }
    const loaded = await loadPlugin(spec, configDir, `${where(file)}: plugins.${i}`);
    loaded.options = options;
    const clash = byName.get(loaded.plugin.name);
    if (clash) {
      throw new ConfigError('PLUGIN_DUPLICATE', `${where(file)}: plugins.${i}: plugin "${spec}" is named "${loaded.plugin.name}", like ${clash.source} plugin "${clash.spec}".`, {
        hint: 'Plugin names must be unique: rename one of them.',
      });
    }
    byName.set(loaded.plugin.name, loaded);
    plugins.push(loaded);
  }
  for (const plugin of given) {
    if (byName.has(plugin.name)) throw new ConfigError('PLUGIN_DUPLICATE', `Two plugins are named "${plugin.name}".`, { hint: 'Plugin names must be unique.' });
    const loaded: LoadedPlugin = { plugin, spec: plugin.name, source: 'object', options: {} };
    byName.set(plugin.name, loaded);
    plugins.push(loaded);
  }
  const registry = new Registry();
  for (const loaded of plugins) {
    const schema = loaded.plugin.options ?? z.strictObject({});
    const parsed = schema.safeParse(loaded.options);
    if (!parsed.success) fail(file, describeIssues(parsed.error, schema, loaded.options, `plugins[${loaded.spec}]`));
    loaded.options = parsed.data as Record<string, unknown>;
    if (loaded.plugin.register) {
      try {
        loaded.plugin.register(registry.registrarFor(loaded.plugin.name), loaded.options);
      } catch (error) {
        if (error instanceof ConfigError) throw error;
        throw new ConfigError('PLUGIN_LOAD_FAILED', `Plugin "${loaded.plugin.name}" (${loaded.spec}) failed while registering its components: ${(error as Error).message}`, { cause: error });
      }
    }
  }
  return { plugins, registry };
}

function selectionsOf(config: RunConfig, slot: AnySlot): Array<{ at: string; selection: ComponentSelection }> {
  const value = slot.configPath.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], config);
  if (value === undefined) return [];
  if (slot.multi) return (value as ComponentSelection[]).map((selection, i) => ({ at: `${slot.configPath}.${i}`, selection }));
  return [{ at: slot.configPath, selection: value as ComponentSelection }];
}

/** Checks every slot's `use` against the registry and the options against the component's schema. */
export function resolveSelections(config: RunConfig, registry: Registry, file?: string): Map<AnySlot, Selection[]> {
  const out = new Map<AnySlot, Selection[]>();
  const problems: string[] = [];
  for (const slot of Object.values(Slots) as AnySlot[]) {
    const list: Selection[] = [];
    for (const { at, selection } of selectionsOf(config, slot)) {
      const { use, ...options } = selection;
      const component = registry.find(slot, use);
      if (!component) {
        const names = registry.names(slot);
        const guess = closest(use, names);
        problems.push(
          `${at}.use: unknown ${slot.key} "${use}"${guess ? ` (did you mean "${guess}"?)` : ''}. Registered ${slot.key} names: ${names.join(', ') || '(none — is the plugin that provides it listed in `plugins`?)'}`,
        );
        continue;
      }
      const schema = component.definition.options ?? z.strictObject({});
      const parsed = schema.safeParse(options);
      if (!parsed.success) {
        problems.push(...describeIssues(parsed.error, schema, options, at).map((line) => `${line} [${slot.key} "${use}"]`));
        continue;
      }
      list.push({ at, component, options: parsed.data as Record<string, unknown> });
    }
    out.set(slot, list);
  }
  if (problems.length) fail(file, problems);
  return out;
}

export async function resolveRun(raw: Record<string, unknown>, configDir: string, file: string | undefined, given: PluginDefinition[]): Promise<ResolvedRun> {
  const config = parseRunConfig(raw, file);
  const { plugins, registry } = await loadPlugins(config, configDir, file, given);
  const selections = resolveSelections(config, registry, file);
  return { config, configFile: file, configDir, plugins, registry, selections };
}

export interface StageToCheck {
  /** Undefined for a config without `stages`. */
  name?: string;
  raw: Record<string, unknown>;
}

/** A stage's config error, with the stage named: the keys it lists are the stage's merged config. */
function inStage(error: unknown, stage: string, file: string | undefined): unknown {
  if (!(error instanceof ConfigError)) return error;
  const head = `Invalid config ${where(file)}:`;
  const message = error.message.startsWith(head) ? `Invalid config ${where(file)}, stage "${stage}":${error.message.slice(head.length)}` : `stage "${stage}": ${error.message}`;
  return new ConfigError(error.code, message, { hint: error.hint, cause: error.cause });
}

/**
 * Resolves every stage about to run and checks, before any of them starts, that its components
 * fit together and that its `${stages.<name>.<key>}` references point at earlier stages that
 * write those keys. Throws one CONFIG_INVALID listing every error; returns each stage's warnings.
 */
export async function checkStages(stages: StageToCheck[], configDir: string, file: string | undefined, given: PluginDefinition[], command: RunStage): Promise<string[][]> {
  const prefix = (stage: StageToCheck) => (stage.name === undefined ? '' : `stages.${stage.name}: `);
  const checked: Array<PipelineStage & { findings: Array<{ severity: string; message: string }> }> = [];
  for (const stage of stages) {
    // References to earlier stages cannot be resolved before they run: checked below instead.
    const raw = substituteStageRefs(stage.raw, new Map(), `${where(file)}: ${prefix(stage)}`, []) as Record<string, unknown>;
    const resolved = await resolveRun(raw, configDir, file, given).catch((error: unknown) => {
      throw stage.name === undefined ? error : inStage(error, stage.name, file);
    });
    const findings = new Compatibility(resolved, command).check().map((f) => ({ ...f, message: `${prefix(stage)}${f.message}` }));
    checked.push({ name: stage.name ?? '', raw: stage.raw, resolved, findings });
  }
  const pipeline = stages.some((s) => s.name !== undefined) ? checkStageRefs(checked) : [];
  const errors = [...checked.flatMap((s) => s.findings), ...pipeline].filter((f) => f.severity === 'error').map((f) => f.message);
  if (errors.length) {
    throw new ConfigError('CONFIG_INVALID', `${where(file)}: ${errors.length === 1 ? 'a problem' : `${errors.length} problems`} found before running anything:\n  ${errors.join('\n  ')}`, {
      hint: '`npx bt-platform plugins` lists every component and its options.',
    });
  }
  return checked.map((s) => [...s.findings, ...pipeline.filter((f) => f.message.startsWith(`stages.${s.name}: `))].filter((f) => f.severity === 'warning').map((f) => f.message));
}
