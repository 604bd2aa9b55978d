import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { redact, redactText, secretValues, type Log } from '@bt-platform/sdk';
import { fetchWithRetry, HttpFailure } from './HttpRetry.js';
import type { MediaFile } from './ImageRef.js';
import { isImageRef, type HistoryRow, type WandbRunInfo } from './WandbJournal.js';

export interface SenderSettings {
  apiKey: string;
  /** e.g. https://api.wandb.ai, or WANDB_BASE_URL. */
  baseUrl: string;
  timeoutMs: number;
  retries: number;
  log: Log;
  /** Prefix of every message, e.g. `wandb`. */
  label?: string;
}

/** What reached wandb and what did not, at the end of a run or a sync. */
export interface SendReport {
  url?: string;
  /** True when the run was created, every row was handed over and the SDK confirmed the end without errors, and every image was uploaded. */
  complete: boolean;
  rows: number;
  rowsConfirmed: boolean;
  imagesUploaded: number;
  imagesNotSent: string[];
  problems: string[];
}

interface ReadyRun {
  id: string;
  entity: string;
  project: string;
}

const UPLOAD_CONCURRENCY = 2;
/** Uploads stop after this many images in a row failed for good: the endpoint is down, keep the rest for `sync`. */
const BREAKER_FAILURES = 2;

const CREATE_RUN_FILES = `mutation CreateRunFiles($entity: String!, $project: String!, $run: String!, $files: [String!]!) {
  createRunFiles(input: {entityName: $entity, projectName: $project, runName: $run, files: $files}) {
    runID
    uploadHeaders
    files { name uploadUrl }
  }
}`;

/** Servers older than createRunFiles (wandb < 0.15.4 servers) hand out upload URLs through this query. */
const RUN_UPLOAD_URLS = `query RunUploadUrls($name: String!, $files: [String]!, $entity: String, $run: String!) {
  model(name: $name, entityName: $entity) {
    bucket(name: $run) {
      id
      files(names: $files) {
        uploadHeaders
        edges { node { name url(upload: true) } }
      }
    }
  }
}`;

const UPSERT_RUN_META = `mutation UpsertBucket($name: String, $project: String, $entity: String, $groupName: String, $notes: String, $tags: [String!]) {
  upsertBucket(input: {name: $name, modelName: $project, entityName: $entity, groupName: $groupName, notes: $notes, tags: $tags}) {
    bucket { id name }
    inserted
  }
}`;

/**
 * Sends one run to wandb off the training path. The run, its config and the scalar history go
 * through @wandb/sdk (hosted in a worker thread that can be terminated); images go through the
 * run-files API the Python client uses (`CreateRunFiles`, or `RunUploadUrls` on older servers,
 * then a PUT to each signed URL, then an `uploaded` notice on the run's file stream). Nothing here
 * throws into the caller: every problem becomes a warning and a line of the final report.
 */
export class WandbSender {
  private readonly worker: Worker;
  private readonly abort = new AbortController();
  private readonly label: string;
  private readonly secrets: string[];
  private readonly run: WandbRunInfo;
  private readonly ready: Promise<ReadyRun | undefined>;
  private readonly finished: Promise<void>;
  private resolveFinished!: () => void;
  private readonly problems: string[] = [];
  private readonly uploads: Array<{ media: MediaFile; root: string }> = [];
  private readonly notSent: string[] = [];
  private uploaded = 0;
  private consecutiveFailures = 0;
  private uploadsStopped = false;
  private active = 0;
  private idleWaiters: Array<() => void> = [];
  private rows = 0;
  private sdkErrors = 0;
  private runReady = false;
  private gotFinished = false;
  private dead = false;
  /** Set once the server has said it has no createRunFiles mutation. */
  private legacyUploads = false;

  constructor(private readonly settings: SenderSettings, run: WandbRunInfo, config: unknown) {
    this.label = settings.label ?? 'wandb';
    const key = settings.apiKey;
    this.secrets = [...(key ? [key, Buffer.from(`api:${key}`).toString('base64')] : []), ...secretValues()].sort((a, b) => b.length - a.length);
    // Every upload passes here, a sync of a journal written by an older version included: mask it all once more.
    this.run = redact(run, this.secrets);
    this.finished = new Promise((resolve) => (this.resolveFinished = resolve));
    this.worker = new Worker(new URL('./wandbWorker.mjs', import.meta.url), { stdout: true, stderr: true });
    // The worker must never keep a finished process alive; finish() holds its own timer while it waits.
    this.worker.unref();
    this.worker.stdout.resume();
    this.worker.stderr.resume();
    this.ready = new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      this.worker.on('message', (message: { type: string; text?: string; run?: ReadyRun }) => {
        switch (message.type) {
          case 'loaded':
            // The bound is on the network, counted from when the SDK has loaded.
            timer = setTimeout(() => {
              this.fail(`creating the run at ${settings.baseUrl} did not finish within ${settings.timeoutMs} ms`);
              resolve(undefined);
            }, settings.timeoutMs);
            timer.unref();
            break;
          case 'ready':
            clearTimeout(timer);
            this.runReady = true;
            resolve(message.run);
            break;
          case 'init-failed':
            clearTimeout(timer);
            this.fail(`creating the run at ${settings.baseUrl} failed: ${message.text}`);
            resolve(undefined);
            break;
          case 'sdk-error':
            this.sdkErrors++;
            this.problem(`@wandb/sdk: ${firstLine(message.text)}`);
            break;
          case 'sdk-log':
            settings.log.debug(`${this.label}: @wandb/sdk: ${this.clean(message.text ?? '')}`);
            break;
          case 'finished':
            this.gotFinished = true;
            this.resolveFinished();
            break;
        }
      });
      this.worker.on('error', (error) => {
        clearTimeout(timer);
        this.fail(`@wandb/sdk stopped: ${firstLine(error.message)}`);
        resolve(undefined);
      });
      this.worker.on('exit', () => {
        this.dead = true;
        resolve(undefined);
        this.resolveFinished();
      });
    });
    this.worker.postMessage({
      type: 'init',
      options: {
        id: this.run.id,
        project: this.run.project,
        entity: this.run.entity,
        name: this.run.name,
        config: wandbConfig(redact(config, this.secrets)),
        settings: { apiKey: settings.apiKey, baseUrl: settings.baseUrl, offline: false, silent: true },
      },
    });
    if (this.run.tags.length || this.run.group || this.run.notes) void this.ready.then((ready) => ready && this.upsertMeta(ready));
  }

  /** Where the run is shown, once created. */
  async url(): Promise<string | undefined> {
    const ready = await this.ready;
    return ready && `${this.settings.baseUrl.replace('://api.', '://')}/${ready.entity}/${ready.project}/runs/${ready.id}`;
  }

  /** Queues one history row and the images it references; returns at once. */
  log(row: HistoryRow, media: MediaFile[], root: string): void {
    this.rows++;
    if (this.dead) {
      for (const m of media) this.notSent.push(m.name);
      return;
    }
    this.worker.postMessage({ type: 'log', row: this.maskCaptions(row), step: row._step });
    for (const m of media) this.uploads.push({ media: m, root });
    this.pump();
  }

  /**
   * Waits for pending uploads and the SDK's final flush, at most `withinMs`; then abandons what is
   * left (aborts requests, terminates the SDK's thread) and reports.
   */
  async finish(exitCode: number, withinMs: number): Promise<SendReport> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), withinMs)));
    const drain = (async () => {
      await this.ready;
      await this.idle();
      this.worker.postMessage({ type: 'finish', code: exitCode });
      await this.finished;
      return 'done' as const;
    })();
    const outcome = await Promise.race([drain, deadline]);
    clearTimeout(timer);
    if (outcome === 'timeout') this.problem(`sending did not finish within ${withinMs} ms; abandoned the rest`);
    this.abort.abort();
    for (const { media } of this.uploads.splice(0)) this.notSent.push(media.name);
    await this.worker.terminate();
    const url = await this.url();
    const rowsConfirmed = this.runReady && this.gotFinished && this.sdkErrors === 0;
    if (this.rows > 0 && !rowsConfirmed && this.runReady) this.problems.push(`history rows: delivery of ${this.rows} rows not confirmed by @wandb/sdk`);
    return {
      url,
      complete: rowsConfirmed && this.notSent.length === 0,
      rows: this.rows,
      rowsConfirmed,
      imagesUploaded: this.uploaded,
      imagesNotSent: [...this.notSent],
      problems: [...this.problems],
    };
  }

  /** Removes the key, in clear and as the basic-auth token a server might echo, and other credentials from any text shown. */
  private clean(text: string): string {
    return redactText(text, this.secrets);
  }

  /** Image captions are the only free text in a history row. */
  private maskCaptions(row: HistoryRow): HistoryRow {
    const out: HistoryRow = { ...row };
    for (const [key, value] of Object.entries(row)) {
      if (isImageRef(value) && value.caption !== undefined) out[key] = { ...value, caption: redactText(value.caption, this.secrets) };
    }
    return out;
  }

  private problem(message: string): void {
    const text = this.clean(message);
    this.problems.push(text);
    this.settings.log.warn(`${this.label}: ${text}`);
  }

  /** The run could not be created: nothing else will be sent. */
  private fail(message: string): void {
    if (this.dead) return;
    this.dead = true;
    this.problem(`${message}; nothing more is sent (the run stays in the run directory for \`bt-platform sync\`)`);
    this.uploadsStopped = true;
    void this.worker.terminate();
    this.resolveFinished();
    this.pump();
  }

  private idle(): Promise<void> {
    if (this.active === 0 && (this.uploads.length === 0 || this.uploadsStopped)) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    if (this.uploadsStopped) {
      for (const { media } of this.uploads.splice(0)) this.notSent.push(media.name);
    }
    while (this.active < UPLOAD_CONCURRENCY && this.uploads.length > 0) {
      const next = this.uploads.shift()!;
      this.active++;
      void this.uploadOne(next.media, next.root).finally(() => {
        this.active--;
        this.pump();
      });
    }
    if (this.active === 0 && this.uploads.length === 0) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  private async uploadOne(media: MediaFile, root: string): Promise<void> {
    const ready = await this.ready;
    if (!ready || this.uploadsStopped) {
      this.notSent.push(media.name);
      return;
    }
    try {
      const bytes = await fsp.readFile(path.resolve(root, media.file));
      const target = await this.uploadUrl(ready, media.name);
      const headers: Record<string, string> = {};
      for (const header of target.headers) {
        const at = header.indexOf(':');
        if (at > 0) headers[header.slice(0, at).trim()] = header.slice(at + 1).trim();
      }
      await fetchWithRetry(target.url, { method: 'PUT', body: bytes, headers }, this.policy());
      this.uploaded++;
      this.consecutiveFailures = 0;
      await this.notifyUploaded(ready, media.name);
    } catch (error) {
      this.notSent.push(media.name);
      this.consecutiveFailures++;
      this.problem(`image ${media.name} not uploaded: ${(error as Error).message}`);
      if (this.consecutiveFailures >= BREAKER_FAILURES && !this.uploadsStopped) {
        this.uploadsStopped = true;
        this.problem(`stopped uploading images after ${BREAKER_FAILURES} failures in a row; the rest stay in the run directory for \`bt-platform sync\``);
      }
    }
  }

  /** A signed URL to PUT one run file to: `CreateRunFiles`, or `RunUploadUrls` on servers without it (as the Python client does). */
  private async uploadUrl(ready: ReadyRun, name: string): Promise<{ url: string; headers: string[] }> {
    if (!this.legacyUploads) {
      try {
        const created = await this.graphql<{ createRunFiles?: { uploadHeaders?: string[]; files?: Array<{ name: string; uploadUrl: string }> } }>(CREATE_RUN_FILES, {
          entity: ready.entity,
          project: ready.project,
          run: ready.id,
          files: [name],
        });
        const target = created.createRunFiles?.files?.find((f) => f.name === name);
        if (!target?.uploadUrl) throw new HttpFailure(`CreateRunFiles gave no upload URL for ${name}`);
        return { url: target.uploadUrl, headers: created.createRunFiles?.uploadHeaders ?? [] };
      } catch (error) {
        const status = (error as HttpFailure).status;
        const schemaError = (error as Error).message.startsWith('GraphQL error') || status === 400 || status === 422;
        if (!schemaError || !/createRunFiles/.test((error as Error).message)) throw error;
        this.legacyUploads = true;
        this.settings.log.debug(`${this.label}: the server has no createRunFiles; using RunUploadUrls`);
      }
    }
    type Legacy = { model?: { bucket?: { files?: { uploadHeaders?: string[]; edges?: Array<{ node?: { name: string; url: string } }> } } } };
    const legacy = await this.graphql<Legacy>(RUN_UPLOAD_URLS, { name: ready.project, entity: ready.entity, run: ready.id, files: [name] });
    const files = legacy.model?.bucket?.files;
    const node = files?.edges?.map((e) => e.node).find((n) => n?.name === name);
    if (!node?.url) throw new HttpFailure(`RunUploadUrls gave no upload URL for ${name}`);
    return { url: node.url, headers: files?.uploadHeaders ?? [] };
  }

  /** Tells the run's file stream that a file is complete, as the Python client does after a push. */
  private async notifyUploaded(ready: ReadyRun, name: string): Promise<void> {
    const url = `${this.settings.baseUrl}/files/${ready.entity}/${ready.project}/${ready.id}/file_stream`;
    try {
      await fetchWithRetry(url, { method: 'POST', headers: this.headers(), body: JSON.stringify({ files: {}, uploaded: [name] }) }, { ...this.policy(), retries: 0 });
    } catch (error) {
      this.settings.log.debug(`${this.label}: ${this.clean((error as Error).message)}`);
    }
  }

  /** Tags, group and notes: @wandb/sdk 0.5 sends none of them, so a second upsert of the same run adds them. */
  private async upsertMeta(ready: ReadyRun): Promise<void> {
    try {
      await this.graphql(UPSERT_RUN_META, {
        name: ready.id,
        project: ready.project,
        entity: ready.entity,
        groupName: this.run.group,
        notes: this.run.notes,
        tags: this.run.tags,
      });
    } catch (error) {
      this.problem(`tags, group and notes not sent: ${(error as Error).message}`);
    }
  }

  private headers(): Record<string, string> {
    return {
      'Content-Type': 'application/json',
      'User-Agent': 'bt-platform logger-wandb',
      Authorization: `Basic ${Buffer.from(`api:${this.settings.apiKey}`).toString('base64')}`,
    };
  }

  private policy() {
    return { timeoutMs: this.settings.timeoutMs, retries: this.settings.retries, signal: this.abort.signal };
  }

  private async graphql<T>(query: string, variables: Record<string, unknown>): Promise<T> {
    const response = await fetchWithRetry(`${this.settings.baseUrl}/graphql`, { method: 'POST', headers: this.headers(), body: JSON.stringify({ query, variables }) }, this.policy());
    const body = (await response.json()) as { data?: T; errors?: Array<{ message: string }> };
    if (body.errors?.length || !body.data) throw new HttpFailure(`GraphQL error: ${body.errors?.map((e) => e.message).join('; ') ?? 'no data'}`);
    return body.data;
  }
}

/** wandb stores config as `{key: {value, desc}}` per top-level key, as the Python client sends it. */
export function wandbConfig(config: unknown): Record<string, { value: unknown; desc: null }> {
  const out: Record<string, { value: unknown; desc: null }> = {};
  for (const [key, value] of Object.entries((config ?? {}) as Record<string, unknown>)) out[key] = { value, desc: null };
  return out;
}

function firstLine(text: string | undefined): string {
  return (text ?? '').split('\n')[0].slice(0, 300);
}
