import path from 'node:path';
import { BtError, type CommandDefinition, type Log } from '@bt-platform/sdk';
import { baseUrl, exitCodeOf, logReport } from './WandbLogger.js';
import { isImageRef, WandbJournal } from './WandbJournal.js';
import { WandbSender, type SendReport } from './WandbSender.js';

export interface SyncOptions {
  project?: string;
  entity?: string;
  timeoutMs?: number;
  retries?: number;
  /** How long to wait for everything to be sent before giving up. */
  flushTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

/**
 * Replays a run directory's wandb journal to wandb through the same sender as online mode: the
 * run (same id, so a partly sent run is completed rather than duplicated), its config, every
 * history row and every image it references.
 */
export async function syncRun(runDir: string, log: Log, options: SyncOptions = {}): Promise<SendReport> {
  const env = options.env ?? process.env;
  const journal = new WandbJournal(path.resolve(runDir));
  if (!journal.exists()) {
    throw new BtError('DATA_MISSING', `No wandb journal in ${journal.dir}.`, {
      hint: 'Pass a run directory of a run that used the `wandb` logger (mode offline or online).',
    });
  }
  if (!env.WANDB_API_KEY) {
    throw new BtError('RUNTIME', 'WANDB_API_KEY is not set: cannot sync to wandb.', { hint: 'Export WANDB_API_KEY (from https://wandb.ai/authorize) and run the sync again.' });
  }
  const run = { ...journal.readRun(), mode: 'online' as const };
  if (options.project) run.project = options.project;
  if (options.entity) run.entity = options.entity;
  const status = journal.readStatus();
  if (!status?.finished) log.warn(`wandb: the run in ${runDir} has not finished (or crashed): syncing what it logged so far.`);
  const { rows, missing } = journal.replay();
  const images = rows.reduce((n, { row }) => n + Object.values(row).filter(isImageRef).length, 0);
  log.info(`wandb: syncing ${rows.length} steps and ${images} images of ${runDir} to ${baseUrl(env)} (project ${run.project}, run ${run.id})`);
  const sender = new WandbSender(
    { apiKey: env.WANDB_API_KEY, baseUrl: baseUrl(env), timeoutMs: options.timeoutMs ?? 15000, retries: options.retries ?? 3, log },
    run,
    journal.readConfig(),
  );
  for (const { row, media } of rows) sender.log(row, media, journal.runDir);
  const report = await sender.finish(exitCodeOf(status?.status), options.flushTimeoutMs ?? 120000);
  if (missing.length) {
    report.complete = false;
    report.imagesNotSent.push(...missing);
    report.problems.push(`${missing.length} image file(s) missing from the run directory, first: ${missing[0]}`);
  }
  journal.writeStatus({
    ...(status ?? { finished: false, rows: rows.length, images }),
    sent: { at: new Date().toISOString(), url: report.url, complete: report.complete, problems: report.problems, imagesNotSent: report.imagesNotSent },
  });
  logReport(log, report, runDir);
  return report;
}

export const syncCommand: CommandDefinition = {
  name: 'sync',
  description: 'Upload a run directory logged by the wandb logger (offline, or online with failures) to wandb.',
  args: '<runDir>',
  options: [
    { flags: '--project <name>', description: 'wandb project (default: the one the run was logged with)' },
    { flags: '--entity <name>', description: 'wandb entity (default: the run\'s, else the API key\'s default)' },
    { flags: '--timeout <ms>', description: 'timeout of one request', default: '15000' },
  ],
  async run(args, options, { log }) {
    const runDir = args[0];
    if (!runDir) throw new BtError('RUNTIME', 'sync needs a run directory.', { hint: 'bt-platform sync RUN_DIR' });
    const report = await syncRun(runDir, log, {
      project: options.project as string | undefined,
      entity: options.entity as string | undefined,
      timeoutMs: options.timeout ? Number(options.timeout) : undefined,
    });
    if (!report.complete) {
      throw new BtError('RUNTIME', `wandb sync of ${runDir} was incomplete: ${report.problems[0] ?? 'see the warnings above'}`, {
        hint: 'Check the network and WANDB_BASE_URL, then run the same sync again: it resends the whole run to the same wandb run.',
      });
    }
  },
};
