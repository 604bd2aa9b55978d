import { existsSync } from 'node:fs';
import path from 'node:path';
import { Stage, writeFileAtomic, type Callback, type HookView, type Log, type RunContext } from '@bt-platform/sdk';
import { isPipelineDir, readPipelineData } from './PipelineData.js';
import { renderPipelineReport } from './PipelinePage.js';
import { readRunData, isRunDir } from './RunData.js';
import { RUN_INFO_FILE, recordRunInfo } from './RunInfo.js';
import { renderReport } from './RunPage.js';

const PLUGIN_NAME = 'report-html';
/** Images are inlined: this bounds the file size of long runs that log many images. */
export const DEFAULT_MAX_IMAGES = 50;
export const DEFAULT_FILENAME = 'report.html';

/** Reads a run directory and writes its report; returns the report's path. */
export async function writeReport(runDir: string, out = path.join(runDir, DEFAULT_FILENAME), maxImagesPerKey = DEFAULT_MAX_IMAGES, pipelineReport?: string): Promise<string> {
  const file = path.resolve(out);
  await writeFileAtomic(file, renderReport(readRunData(runDir), { maxImagesPerKey, outDir: path.dirname(file), pipelineReport }));
  return file;
}

/** Reads a pipeline's directory and writes its report (linking each stage's `reportName`); returns the report's path. */
export async function writePipelineReport(pipelineDir: string, out = path.join(pipelineDir, DEFAULT_FILENAME), reportName = DEFAULT_FILENAME): Promise<string> {
  const file = path.resolve(out);
  await writeFileAtomic(file, renderPipelineReport(readPipelineData(pipelineDir), { outDir: path.dirname(file), reportName }));
  return file;
}

/**
 * The reports of a directory: a run's, or for a pipeline's directory each stage's and then the
 * pipeline's (at `out`). Returns the files written, the main report last.
 */
export async function writeReports(dir: string, out?: string, maxImagesPerKey = DEFAULT_MAX_IMAGES): Promise<string[]> {
  const resolved = path.resolve(dir);
  if (!isPipelineDir(resolved)) return [await writeReport(resolved, out, maxImagesPerKey)];
  const pipelineReport = path.resolve(out ?? path.join(resolved, DEFAULT_FILENAME));
  const files: string[] = [];
  for (const stage of readPipelineData(resolved).stages) files.push(await writeReport(stage.data.runDir, undefined, maxImagesPerKey, pipelineReport));
  files.push(await writePipelineReport(resolved, pipelineReport));
  return files;
}

/**
 * The pipeline directory a run belongs to, if any. A pipeline runs each stage in
 * `<pipeline dir>/<stage>`, while a lone run lives directly in the config's `runDir`; the
 * pipeline's own summary.json appears only after the last stage, so it cannot tell earlier.
 */
export function pipelineDirOf(ctx: Pick<RunContext, 'runDir' | 'configDir' | 'config'>): string | undefined {
  const parent = path.dirname(ctx.runDir);
  const runsDir = path.resolve(ctx.configDir, typeof ctx.config.runDir === 'string' ? ctx.config.runDir : 'runs');
  return parent !== runsDir && !isRunDir(parent) ? parent : undefined;
}

/**
 * The `html-report` callback: records how the run was started (run-info.json) at setup, writes
 * `<runDir>/<filename>` at the end of fitting and again at teardown (after the core's summary),
 * last of all taps so that the other plugins' final images are in. In a pipeline, teardown also
 * rewrites the pipeline's report from the stages present so far. A report that cannot be written
 * is a warning, never a failed run.
 */
export class HtmlReport implements Callback {
  private logged = false;

  constructor(
    private readonly runDir: string,
    private readonly log: Log,
    private readonly filename = DEFAULT_FILENAME,
    private readonly maxImagesPerKey = DEFAULT_MAX_IMAGES,
    private readonly configDir?: string,
    private readonly pipelineDir?: string,
  ) {}

  apply(hooks: HookView): void {
    const tap = { name: PLUGIN_NAME, stage: Stage.earlyStop + 100 };
    hooks.setup.tapPromise(tap, async () => {
      if (!this.configDir || existsSync(path.join(this.runDir, RUN_INFO_FILE))) return;
      await this.attempt(path.join(this.runDir, RUN_INFO_FILE), () => recordRunInfo(this.runDir, this.configDir!));
    });
    hooks.fitEnd.tapPromise(tap, async () => {
      await this.writeOwn(false);
    });
    hooks.metrics.tapPromise(tap, async () => {
      this.logged = true;
    });
    hooks.teardown.tapPromise(tap, async (event) => {
      // A run that failed before logging anything has nothing to report; its summary.json says why.
      if (event.status !== 'failed' || this.logged) await this.writeOwn(true);
      if (!this.pipelineDir) return;
      const out = path.join(this.pipelineDir, this.filename);
      await this.attempt(out, async () => this.log.info(`pipeline report: ${await writePipelineReport(this.pipelineDir!, out, this.filename)}`));
    });
  }

  private async writeOwn(announce: boolean): Promise<void> {
    const out = path.join(this.runDir, this.filename);
    const pipelineReport = this.pipelineDir && path.join(this.pipelineDir, this.filename);
    await this.attempt(out, async () => {
      const file = await writeReport(this.runDir, out, this.maxImagesPerKey, pipelineReport);
      if (announce) this.log.info(`report: ${file}`);
    });
  }

  private async attempt(file: string, write: () => Promise<void>): Promise<void> {
    try {
      await write();
    } catch (error) {
      this.log.warn(`report-html: could not write ${file}: ${(error as Error).message}`);
    }
  }
}
