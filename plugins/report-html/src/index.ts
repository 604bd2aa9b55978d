import path from 'node:path';
import { BtError, definePlugin, Slots, z } from '@bt-platform/sdk';
import { DEFAULT_FILENAME, DEFAULT_MAX_IMAGES, HtmlReport, pipelineDirOf, writeReports } from './HtmlReport.js';

export { DEFAULT_MAX_IMAGES, HtmlReport, pipelineDirOf, writePipelineReport, writeReport, writeReports } from './HtmlReport.js';
export { isPipelineDir, readPipelineData } from './PipelineData.js';
export { PALETTE } from './ReportModel.js';
export { readRunData } from './RunData.js';
export { renderPipelineReport } from './PipelinePage.js';
export { renderReport } from './RunPage.js';

export default definePlugin({
  name: 'report-html',
  description: 'A self-contained HTML report of a run, and of a pipeline: curves, per-class tables, images, how the run was started.',
  register(registrar) {
    registrar.component(Slots.callback, {
      name: 'html-report',
      description: 'Writes <runDir>/report.html at the end of the run (one file, opens without network); in a pipeline also the pipeline\'s report.',
      options: z.strictObject({
        filename: z.string().regex(/^[^/\\]+\.html$/, 'a file name ending in .html').default(DEFAULT_FILENAME),
        /** Images are inlined; a key with more keeps this many, spread over the run. */
        maxImagesPerKey: z.number().int().positive().default(DEFAULT_MAX_IMAGES),
      }),
      create: (options, ctx) => new HtmlReport(ctx.runDir, ctx.log, options.filename, options.maxImagesPerKey, ctx.configDir, pipelineDirOf(ctx)),
    });
  },
  commands: [
    {
      name: 'report',
      description: 'Write the HTML report of a run directory, or of a pipeline\'s directory (each stage\'s and the pipeline\'s).',
      args: '<dir>',
      options: [
        { flags: '--out <file>', description: 'where to write it (default: DIR/report.html)' },
        { flags: '--max-images <n>', description: 'images per key at most (spread over the run)', default: String(DEFAULT_MAX_IMAGES) },
      ],
      async run(args, options, { cwd, log }) {
        if (!args[0]) throw new BtError('DATA_MISSING', 'report needs a run directory or a pipeline\'s directory.', { hint: 'bt-platform report DIR' });
        const dir = path.resolve(cwd, args[0]);
        const out = typeof options.out === 'string' ? path.resolve(cwd, options.out) : undefined;
        const max = Number(options.maxImages ?? DEFAULT_MAX_IMAGES);
        if (!Number.isInteger(max) || max < 1) throw new BtError('RUNTIME', `--max-images must be a positive integer, got "${String(options.maxImages)}".`);
        for (const file of await writeReports(dir, out, max)) log.info(`report: ${file}`);
      },
    },
  ],
});
