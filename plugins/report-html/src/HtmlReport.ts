import path from 'node:path';
import { Stage, writeFileAtomic, type Callback, type HookView, type Log } from '@bt-platform/sdk';
import { renderReport } from './ReportHtml.js';
import { readRunData } from './RunData.js';

const PLUGIN_NAME = 'report-html';
/** Images are inlined: this bounds the file size of long runs that log many images. */
export const DEFAULT_MAX_IMAGES = 50;

/** Reads a run directory and writes its report; returns the report's path. */
export async function writeReport(runDir: string, out = path.join(runDir, 'report.html'), maxImagesPerKey = DEFAULT_MAX_IMAGES): Promise<string> {
  const file = path.resolve(out);
  await writeFileAtomic(file, renderReport(readRunData(runDir), { maxImagesPerKey }));
  return file;
}

/**
 * The `html-report` callback: writes `<runDir>/<filename>` at the end of fitting and again at
 * teardown (after the core's summary), last of all taps so that the other plugins' final images
 * are in. A report that cannot be written is a warning, never a failed run.
 */
export class HtmlReport implements Callback {
  private logged = false;

  constructor(
    private readonly runDir: string,
    private readonly log: Log,
    private readonly filename = 'report.html',
    private readonly maxImagesPerKey = DEFAULT_MAX_IMAGES,
  ) {}

  apply(hooks: HookView): void {
    const tap = { name: PLUGIN_NAME, stage: Stage.earlyStop + 100 };
    hooks.fitEnd.tapPromise(tap, async () => {
      await this.write(false);
    });
    hooks.metrics.tapPromise(tap, async () => {
      this.logged = true;
    });
    hooks.teardown.tapPromise(tap, async (event) => {
      // A run that failed before logging anything has nothing to report; its summary.json says why.
      if (event.status !== 'failed' || this.logged) await this.write(true);
    });
  }

  private async write(announce: boolean): Promise<void> {
    try {
      const file = await writeReport(this.runDir, path.join(this.runDir, this.filename), this.maxImagesPerKey);
      if (announce) this.log.info(`report: ${file}`);
    } catch (error) {
      this.log.warn(`report-html: could not write ${path.join(this.runDir, this.filename)}: ${(error as Error).message}`);
    }
  }
}
