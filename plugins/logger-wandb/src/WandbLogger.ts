import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { redact, redactText, secretValues, Stage, type Callback, type FitStatus, type HookView, type Log, type MediaEvent, type MetricsEvent } from '@bt-platform/sdk';
import { imageRef, type MediaFile } from './ImageRef.js';
import { tapWandbHistograms } from './WandbHistograms.js';
import { WandbJournal, type HistoryRow, type WandbRunInfo } from './WandbJournal.js';
import type { WandbMode, WandbOptions } from './WandbOptions.js';
import { WandbSender, type SendReport } from './WandbSender.js';

const PLUGIN_NAME = 'logger-wandb';

/** What the logger needs of the run (a subset of RunContext, so tests can build one). */
export interface WandbLoggerContext {
  readonly config: Readonly<Record<string, unknown>>;
  readonly runDir: string;
  readonly log: Log;
}

/** The row being assembled for one step: metrics and images of a step become one wandb history row. */
interface PendingRow {
  step: number;
  row: HistoryRow;
  media: MediaFile[];
}

/** wandb run ids: 8 characters of [a-z0-9]. */
function newRunId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(randomBytes(8), (b) => alphabet[b % alphabet.length]).join('');
}

export function exitCodeOf(status: FitStatus | string | undefined): number {
  return status === 'failed' ? 1 : status === 'interrupted' ? 255 : 0;
}

/** Decides how the run is logged: the option, else WANDB_MODE, else online; online needs an API key. */
export function resolveMode(option: WandbMode | undefined, env: NodeJS.ProcessEnv = process.env): { mode: WandbMode; reason?: string } {
  const fromEnv = env.WANDB_MODE === 'dryrun' ? 'offline' : env.WANDB_MODE;
  const wanted: WandbMode = option ?? (fromEnv === 'offline' || fromEnv === 'disabled' ? fromEnv : 'online');
  if (wanted === 'online' && !env.WANDB_API_KEY) return { mode: 'offline', reason: 'WANDB_API_KEY is not set' };
  return { mode: wanted };
}

/**
 * The `wandb` logger. Every step's scalars and images become one wandb history row, journaled in
 * `<runDir>/wandb/` first (offline mode stops there), then handed to a WandbSender that sends in
 * the background. Training never waits for the network: hooks only append to the journal and a queue.
 */
export class WandbLogger implements Callback {
  readonly mode: WandbMode;
  private readonly journal: WandbJournal;
  private run?: WandbRunInfo;
  private sender?: WandbSender;
  private pending?: PendingRow;
  private lastStep = -1;
  private rows = 0;
  private images = 0;
  private status?: string;
  private closed = false;
  private warnedLate = false;

  constructor(
    private readonly options: WandbOptions,
    private readonly ctx: WandbLoggerContext,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    this.journal = new WandbJournal(ctx.runDir);
    const { mode, reason } = resolveMode(options.mode, env);
    this.mode = mode;
    if (reason) {
      ctx.log.warn(`wandb: ${reason}: logging offline to ${this.journal.dir}; upload later with \`bt-platform sync ${ctx.runDir}\` once the key is set.`);
    }
  }

  apply(hooks: HookView): void {
    if (this.mode === 'disabled') return;
    const tap = { name: PLUGIN_NAME, stage: Stage.logging };
    hooks.fitStart.tapPromise(tap, async () => this.start());
    hooks.metrics.tapPromise(tap, async (event) => this.onMetrics(event));
    hooks.media.tapPromise(tap, async (event) => this.onMedia(event));
    tapWandbHistograms(hooks, this);
    hooks.fitEnd.tapPromise(tap, async (event) => {
      this.status = event.status;
      this.flushRow();
    });
    hooks.exception.tapPromise(tap, async () => {
      this.status = 'failed';
      this.flushRow();
    });
    hooks.teardown.tapPromise(tap, async (event) => {
      await this.close(event.status);
    });
  }

  /** Creates (or, for a resumed run directory, reopens) the wandb run; idempotent. */
  start(): void {
    if (this.run || this.mode === 'disabled') return;
    const previous = this.journal.exists() ? this.journal.readRun() : undefined;
    const { options, ctx } = this;
    const configName = typeof ctx.config.name === 'string' ? ctx.config.name : undefined;
    const secrets = this.secrets();
    // Names, notes and tags are free text a user may paste a token into: masked before anything is written or sent.
    this.run = redact({
      id: previous?.id ?? newRunId(),
      project: options.project,
      entity: options.entity,
      name: options.name ?? configName ?? path.basename(ctx.runDir),
      tags: options.tags,
      group: options.group,
      notes: options.notes,
      mode: this.mode === 'online' ? 'online' : 'offline',
      createdAt: previous?.createdAt ?? new Date().toISOString(),
    }, secrets);
    const config = redact(ctx.config, secrets);
    this.journal.writeRun(this.run);
    this.journal.writeConfig(config);
    const earlier = this.journal.replay().rows;
    this.lastStep = earlier.length ? earlier[earlier.length - 1].row._step : -1;
    this.journal.writeStatus({ finished: false, rows: earlier.length, images: this.journal.readMedia().length });
    if (this.mode === 'online') {
      this.sender = new WandbSender(
        { apiKey: this.env.WANDB_API_KEY ?? '', baseUrl: baseUrl(this.env), timeoutMs: options.timeoutMs, retries: options.retries, log: ctx.log },
        this.run,
        config,
      );
      // A run directory logged before (same wandb run id): @wandb/sdk numbers history lines from 0 in each
      // session, so resend the earlier rows first rather than overwrite them.
      for (const { row, media } of earlier) this.sender.log(row, media, ctx.runDir);
    }
  }

  async onMetrics(event: MetricsEvent): Promise<void> {
    if (this.closed || this.mode === 'disabled') return;
    this.start();
    const values = Object.entries(event.values);
    const perStep = values.every(([key]) => (key.startsWith('train/') && !key.endsWith('_epoch')) || key === 'lr');
    if (perStep && event.step % this.options.logEvery !== 0) return;
    const pending = this.rowFor(event.step);
    for (const [key, value] of values) pending.row[key] = value;
  }

  async onMedia(event: MediaEvent): Promise<void> {
    if (this.closed || this.mode === 'disabled') return;
    this.start();
    try {
      const caption = event.caption === undefined ? undefined : redactText(event.caption, this.secrets());
      const { ref, media } = await imageRef(event.path, event.key, event.step, this.ctx.runDir, caption);
      const pending = this.rowFor(event.step);
      pending.row[event.key] = ref;
      pending.media.push(media);
    } catch (error) {
      this.ctx.log.warn(`wandb: image ${event.path} (key ${event.key}, step ${event.step}) not logged: ${redactText((error as Error).message, this.secrets())}`);
    }
  }

  /** Credentials of both the given environment and the process's, longest first. */
  private secrets(): string[] {
    return [...new Set([...secretValues(this.env), ...secretValues()])].sort((a, b) => b.length - a.length);
  }

  /** The row of `step`; a newer step completes the previous row. wandb needs rising steps: a late event joins the current row. */
  private rowFor(step: number): PendingRow {
    if (this.pending && step > this.pending.step) this.flushRow();
    if (this.pending) {
      if (step < this.pending.step && !this.warnedLate) {
        this.warnedLate = true;
        this.ctx.log.warn(`wandb: a value of step ${step} arrived after step ${this.pending.step} had begun; wandb steps must rise, so it is logged at step ${this.pending.step}.`);
      }
      return this.pending;
    }
    const at = step <= this.lastStep ? this.lastStep + 1 : step;
    if (at !== step && !this.warnedLate) {
      this.warnedLate = true;
      this.ctx.log.warn(`wandb: a value of step ${step} arrived after step ${this.lastStep} was written; wandb steps must rise, so it is logged at step ${at}.`);
    }
    this.pending = { step: at, row: { _step: at }, media: [] };
    return this.pending;
  }

  private flushRow(): void {
    const pending = this.pending;
    if (!pending) return;
    this.pending = undefined;
    this.lastStep = pending.step;
    this.journal.appendRow(pending.row);
    for (const media of pending.media) this.journal.appendMedia(media);
    this.rows++;
    this.images += pending.media.length;
    this.sender?.log(pending.row, pending.media, this.ctx.runDir);
  }

  /** Ends the run: writes the last row and the status, then flushes or abandons sending within `flushTimeoutMs`. */
  async close(status?: FitStatus | string): Promise<SendReport | undefined> {
    if (this.closed || this.mode === 'disabled') return undefined;
    this.closed = true;
    this.start();
    this.flushRow();
    const finalStatus = this.status ?? status ?? 'completed';
    const totals = { rows: this.journal.readRows().length, images: this.journal.readMedia().length };
    this.journal.writeStatus({ finished: true, status: finalStatus, ...totals });
    if (!this.sender) {
      this.ctx.log.info(`wandb: offline run kept in ${this.journal.dir} (${totals.rows} steps, ${totals.images} images); upload with \`bt-platform sync ${this.ctx.runDir}\`.`);
      return undefined;
    }
    const report = await this.sender.finish(exitCodeOf(finalStatus), this.options.flushTimeoutMs);
    this.journal.writeStatus({
      finished: true,
      status: finalStatus,
      ...totals,
      sent: { at: new Date().toISOString(), url: report.url, complete: report.complete, problems: report.problems, imagesNotSent: report.imagesNotSent },
    });
    logReport(this.ctx.log, report, this.ctx.runDir);
    return report;
  }
}

export function baseUrl(env: NodeJS.ProcessEnv = process.env): string {
  return (env.WANDB_BASE_URL || 'https://api.wandb.ai').replace(/\/+$/, '');
}

/** The end-of-run summary: what was sent, and what was not with how to send it later. */
export function logReport(log: Log, report: SendReport, runDir: string): void {
  const images = `${report.imagesUploaded} image${report.imagesUploaded === 1 ? '' : 's'}`;
  if (report.complete) {
    log.info(`wandb: sent ${report.rows} steps and ${images}${report.url ? ` to ${report.url}` : ''}`);
    return;
  }
  const missing = [
    ...(report.rowsConfirmed ? [] : [`${report.rows} history rows (delivery not confirmed)`]),
    ...(report.imagesNotSent.length ? [`${report.imagesNotSent.length} images`] : []),
  ];
  log.warn(
    `wandb: not everything was sent${report.url ? ` to ${report.url}` : ''}: missing ${missing.join(' and ') || 'nothing listed'}; ` +
      `${report.problems.length} problem(s), first: ${report.problems[0] ?? 'none'}. ` +
      `Everything is kept in ${path.join(runDir, 'wandb')}; resend with \`bt-platform sync ${runDir}\`.`,
  );
}
