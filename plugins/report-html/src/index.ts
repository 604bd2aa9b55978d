import path from 'node:path';
import { BtError, definePlugin, Slots, z } from '@bt-platform/sdk';
import { DEFAULT_MAX_IMAGES, HtmlReport, writeReport } from './HtmlReport.js';

export { DEFAULT_MAX_IMAGES, HtmlReport, writeReport } from './HtmlReport.js';
export { renderReport, chartModels, imageGroups, PALETTE } from './ReportHtml.js';
export { readRunData } from './RunData.js';

export default definePlugin({
  name: 'report-html',
  description: 'A self-contained HTML report of a run: curves, config, images with a step slider, summary.',
  register(registrar) {
    registrar.component(Slots.callback, {
      name: 'html-report',
      description: 'Writes <runDir>/report.html at the end of the run (one file, opens without network).',
      options: z.strictObject({
        filename: z.string().regex(/^[^/\\]+\.html$/, 'a file name ending in .html').default('report.html'),
        /** Images are inlined; a key with more keeps this many, spread over the run. */
        maxImagesPerKey: z.number().int().positive().default(DEFAULT_MAX_IMAGES),
      }),
      create: (options, ctx) => new HtmlReport(ctx.runDir, ctx.log, options.filename, options.maxImagesPerKey),
    });
  },
  commands: [
    {
      name: 'report',
      description: 'Write the HTML report of a run directory (config, curves, images, summary).',
      args: '<runDir>',
      options: [
        { flags: '--out <file>', description: 'where to write it (default: RUN_DIR/report.html)' },
        { flags: '--max-images <n>', description: 'images per key at most (spread over the run)', default: String(DEFAULT_MAX_IMAGES) },
      ],
      async run(args, options, { cwd, log }) {
        if (!args[0]) throw new BtError('DATA_MISSING', 'report needs a run directory.', { hint: 'bt-platform report RUN_DIR' });
        const runDir = path.resolve(cwd, args[0]);
        const out = typeof options.out === 'string' ? path.resolve(cwd, options.out) : undefined;
        const max = Number(options.maxImages ?? DEFAULT_MAX_IMAGES);
        if (!Number.isInteger(max) || max < 1) throw new BtError('RUNTIME', `--max-images must be a positive integer, got "${String(options.maxImages)}".`);
        log.info(`report: ${await writeReport(runDir, out, max)}`);
      },
    },
  ],
});
