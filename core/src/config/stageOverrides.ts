import { ConfigError } from '@bt-platform/sdk';
import { applyOverrides, splitStages, type LoadedConfig, type StageConfig } from './load.js';

/** `--set stages.<name or index>.<key>=value` targets one stage of a pipeline. */
export function isStageOverride(override: string): boolean {
  return override.startsWith('stages.');
}

/**
 * `--set` on a pipeline, applied after each stage is merged over the top-level keys: `key=value`
 * sets the key in every stage (so it wins over a stage's own value), `stages.<name>.key=value` or
 * `stages.<index>.key=value` in that stage alone. A config without stages takes only the former.
 */
export function applyStageOverrides(stages: StageConfig[], overrides: string[], file: string): StageConfig[] {
  const shared = overrides.filter((o) => !isStageOverride(o));
  const targeted = overrides.filter(isStageOverride).map((override) => {
    const eq = override.indexOf('=');
    const keys = (eq < 0 ? override : override.slice(0, eq)).split('.');
    if (eq < 0 || keys.length < 3 || keys.some((k) => k === '')) {
      throw new ConfigError('CONFIG_INVALID', `--set ${override}: expected stages.<stage>.<key>=VALUE, e.g. --set stages.finetune.trainer.maxEpochs=3.`);
    }
    return { override, stage: keys[1], assignment: `${keys.slice(2).join('.')}${override.slice(eq)}` };
  });
  const pipeline = !(stages.length === 1 && stages[0].name === undefined);
  if (!pipeline) {
    if (targeted.length) {
      throw new ConfigError('CONFIG_INVALID', `--set ${targeted[0].override}: ${file} has no \`stages\`, so there is no stage "${targeted[0].stage}".`, {
        hint: `Drop the "stages.${targeted[0].stage}." prefix to set the key of the run.`,
      });
    }
    return stages;
  }
  const names = stages.map((s) => s.name!);
  for (const { override, stage } of targeted) {
    if (!names.includes(stage) && !(/^\d+$/.test(stage) && Number(stage) < stages.length)) {
      throw new ConfigError('CONFIG_INVALID', `--set ${override}: ${file} has no stage "${stage}".`, {
        hint: `Use a stage name (${names.join(', ')}) or index (0 to ${stages.length - 1}).`,
      });
    }
  }
  return stages.map((stage, index) => {
    const own = targeted.filter((t) => t.stage === stage.name || t.stage === String(index)).map((t) => t.assignment);
    return { ...stage, raw: applyOverrides(stage.raw, [...shared, ...own]) };
  });
}

/**
 * Splits a loaded config into its stages with the \`--set\` overrides applied: to the run, or, on
 * a pipeline, to each stage after its merge (once, so that \`{$append: …}\` adds one entry).
 */
export async function overriddenStages(loaded: LoadedConfig, overrides: string[]): Promise<StageConfig[]> {
  if (loaded.raw.stages === undefined) loaded.raw = applyOverrides(loaded.raw, overrides.filter((o) => !isStageOverride(o)));
  return applyStageOverrides(await splitStages(loaded), overrides, loaded.file ?? 'config');
}
