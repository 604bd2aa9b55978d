import { ConfigError } from '@bt-platform/sdk';

/** A pipeline's `compare` key: one metric, read from each named stage's final metrics. */
export interface StageComparison {
  metric: string;
  stages: string[];
}

/** Refuses, before anything runs, a comparison that names a stage the pipeline does not have. */
export function checkComparison(compare: StageComparison, stageNames: string[], file: string): void {
  const unknown = compare.stages.filter((name) => !stageNames.includes(name));
  if (unknown.length) {
    throw new ConfigError('CONFIG_INVALID', `${file}: compare.stages: no stage named ${unknown.map((n) => `"${n}"`).join(', ')} (stages: ${stageNames.join(', ')}).`, {
      hint: 'Name stages listed under `stages`.',
    });
  }
}

/**
 * The compared values, and one line showing them side by side with each difference from the
 * first, e.g. `val/mIoU: finetune 0.612 vs scratch 0.521 (+0.091)`. Stages that did not run or
 * did not log the metric are named in `missing`.
 */
export function compareStages(compare: StageComparison, metricsByStage: Map<string, Record<string, number>>) {
  const values: Record<string, number> = {};
  const missing: string[] = [];
  for (const name of compare.stages) {
    const value = metricsByStage.get(name)?.[compare.metric];
    if (typeof value === 'number' && Number.isFinite(value)) values[name] = value;
    else missing.push(name);
  }
  const [first, ...rest] = Object.entries(values);
  const format = (v: number) => v.toFixed(3);
  const line = first
    ? `${compare.metric}: ${first[0]} ${format(first[1])}${rest.map(([name, v]) => ` vs ${name} ${format(v)} (${first[1] - v >= 0 ? '+' : ''}${format(first[1] - v)})`).join('')}`
    : undefined;
  return { metric: compare.metric, values, missing, line: rest.length ? line : undefined };
}
