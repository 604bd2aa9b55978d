import { Slots, type AnySlot, type CallbackDeclaration } from '@bt-platform/sdk';
import { closest } from './config/format.js';
import { declarationOf, defaultDeclaration, type Finding } from './compatibility.js';
import type { ResolvedRun } from './resolve.js';

/** The form `substituteStageRefs` replaces with a finished stage's summary value. */
const STAGE_REF = /\$\{stages\.([\w.-]+?)\.([\w-]+)\}/g;

/** Keys the core writes into every stage's summary.json. */
const CORE_SUMMARY_KEYS = ['name', 'command', 'status', 'reason', 'epochs', 'steps', 'durationSec', 'metrics', 'runDir', 'backend', 'parameters'];

interface StageRef {
  /** Key path inside the stage's config. */
  at: string;
  text: string;
  stage: string;
  key: string;
}

function findRefs(value: unknown, at: string[] = []): StageRef[] {
  if (typeof value === 'string') return [...value.matchAll(STAGE_REF)].map((m) => ({ at: at.join('.'), text: m[0], stage: m[1], key: m[2] }));
  if (Array.isArray(value)) return value.flatMap((v, i) => findRefs(v, [...at, String(i)]));
  if (value !== null && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => findRefs(v, [...at, k]));
  return [];
}

export interface PipelineStage {
  name: string;
  raw: Record<string, unknown>;
  resolved?: ResolvedRun;
}

/** Summary keys a resolved stage's callbacks and loggers declare they write. */
function declaredSummaryKeys(resolved: ResolvedRun): Set<string> {
  const keys = new Set<string>();
  for (const slot of [Slots.callback, Slots.logger] as AnySlot[]) {
    for (const { component, options } of resolved.selections.get(slot) ?? []) {
      try {
        for (const key of (declarationOf(component, options) as CallbackDeclaration | undefined)?.summary ?? []) keys.add(key);
      } catch {
        // The compatibility check reports a declaration that throws.
      }
    }
  }
  return keys;
}

/** Registered callbacks and loggers that declare (with their default options) that they write `key`. */
function writersOf(resolved: ResolvedRun, key: string): string[] {
  return resolved.registry
    .all()
    .filter((c) => (c.slot === Slots.callback || c.slot === Slots.logger) && defaultDeclaration<CallbackDeclaration>(c)?.summary?.includes(key))
    .map((c) => `${c.slot.configPath}: [{ use: ${c.definition.name} }]`);
}

/**
 * Checks each `${stages.<name>.<key>}` of a pipeline: the stage must exist and run earlier, and
 * (when that stage is resolved) one of its components must write the key into its summary.
 */
export function checkStageRefs(stages: PipelineStage[]): Finding[] {
  const findings: Finding[] = [];
  const names = stages.map((s) => s.name);
  for (const [index, stage] of stages.entries()) {
    for (const ref of findRefs(stage.raw)) {
      const where = `stages.${stage.name}: ${ref.at}: ${ref.text}`;
      const target = names.indexOf(ref.stage);
      if (target < 0) {
        const guess = closest(ref.stage, names);
        findings.push({ severity: 'error', message: `${where} refers to stage "${ref.stage}", which does not exist. Fix: name one of the stages before "${stage.name}"${guess ? ` (did you mean "${guess}"?)` : ''}: ${names.slice(0, index).join(', ') || 'none, it is the first'}.` });
        continue;
      }
      if (target >= index) {
        const what = target === index ? 'this very stage' : `a stage that runs after "${stage.name}"`;
        findings.push({ severity: 'error', message: `${where} refers to ${what}; a stage can only use the results of the stages before it. Fix: move the key into a later stage, or reorder the stages${index ? ` (before "${stage.name}": ${names.slice(0, index).join(', ')})` : ''}.` });
        continue;
      }
      const resolved = stages[target].resolved;
      if (!resolved || CORE_SUMMARY_KEYS.includes(ref.key) || declaredSummaryKeys(resolved).has(ref.key)) continue;
      const writers = writersOf(resolved, ref.key);
      if (writers.length) {
        findings.push({ severity: 'error', message: `${where}: stage "${ref.stage}" has no component that writes "${ref.key}" into its summary. Fix: add ${writers.join(' or ')} to stage "${ref.stage}".` });
      } else {
        findings.push({ severity: 'warning', message: `${where}: no component of stage "${ref.stage}" declares that it writes "${ref.key}" into its summary (the core writes ${CORE_SUMMARY_KEYS.join(', ')}); the stage after it fails if it is missing.` });
      }
    }
  }
  return findings;
}
