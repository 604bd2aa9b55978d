import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '@bt-platform/sdk';
import type { StageConfig } from './config/load.js';

export interface PipelineResume {
  /** Index of the stage the checkpoint belongs to: it is resumed, the stages after it run. */
  index: number;
  /** The pipeline run directory the checkpoint comes from. */
  from: string;
  /** Summaries of the stages before it, read from their run directories in `from`. */
  summaries: Map<string, Record<string, unknown>>;
}

/**
 * Where `--resume` continues a pipeline: the stage whose run directory holds the checkpoint
 * (`<pipeline run>/<stage>/checkpoints/…`), after stages whose results are read from that run.
 */
export function locatePipelineResume(stages: StageConfig[], checkpoint: string, file: string): PipelineResume {
  const names = stages.map((s) => s.name!);
  let stageDir: string | undefined;
  for (let dir = path.dirname(checkpoint), up = 0; up < 3 && dir !== path.dirname(dir); up++, dir = path.dirname(dir)) {
    if (names.includes(path.basename(dir)) && existsSync(path.join(dir, 'config.yaml'))) {
      stageDir = dir;
      break;
    }
  }
  if (!stageDir) {
    throw new ConfigError('CONFIG_INVALID', `--resume ${checkpoint}: ${file} is a pipeline, and the checkpoint is not in the run directory of one of its stages (<pipeline run>/<stage>/checkpoints/), so the stage to resume is unknown.`, {
      hint: `Add --stage NAME to resume that stage alone (stages: ${names.join(', ')}), or resume a checkpoint from the pipeline's run directory.`,
    });
  }
  const index = names.indexOf(path.basename(stageDir));
  const from = path.dirname(stageDir);
  const summaries = new Map<string, Record<string, unknown>>();
  for (const name of names.slice(0, index)) {
    const summaryFile = path.join(from, name, 'summary.json');
    const summary = readSummary(summaryFile);
    if (summary?.status !== 'completed' && summary?.status !== 'stopped') {
      throw new ConfigError('CONFIG_INVALID', `--resume ${checkpoint}: stage "${name}", which runs before "${names[index]}", did not finish in ${from} (${summary ? `status ${String(summary.status)}` : 'no summary.json'}).`, {
        hint: `Resume stage "${name}" first, from a checkpoint in ${path.join(from, name, 'checkpoints')}.`,
      });
    }
    summaries.set(name, summary);
  }
  return { index, from, summaries };
}

function readSummary(file: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
