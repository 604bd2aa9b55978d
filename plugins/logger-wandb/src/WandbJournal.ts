import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { BtError, writeFileAtomicSync } from '@bt-platform/sdk';
import type { MediaFile, WandbImageRef } from './ImageRef.js';

export function isImageRef(value: unknown): value is WandbImageRef {
  return typeof value === 'object' && value !== null && (value as WandbImageRef)._type === 'image-file';
}

/** Identity of a wandb run, as the logger creates it and `sync` replays it. */
export interface WandbRunInfo {
  /** wandb's run id (the run's name in the API): 8 lowercase letters and digits. */
  id: string;
  project: string;
  entity?: string;
  /** Display name. */
  name: string;
  tags: string[];
  group?: string;
  notes?: string;
  /** The mode the run was logged in. */
  mode: 'online' | 'offline';
  createdAt: string;
}

/** One wandb history row: `_step` plus scalars and image references of that step. */
export type HistoryRow = { _step: number } & Record<string, number | WandbImageRef | null>;

/** What happened to the run's data; rewritten at the end of a run and after each sync. */
export interface WandbStatus {
  finished: boolean;
  /** How the run ended (fitEnd/teardown status). */
  status?: string;
  rows: number;
  images: number;
  /** The last attempt to send the run (online run or sync). */
  sent?: { at: string; url?: string; complete: boolean; problems: string[]; imagesNotSent: string[] };
}

/**
 * Everything the wandb logger would send, kept in `<runDir>/wandb/`: `run.json`, `config.json`
 * (credentials redacted), `history.jsonl` (one row per step, exactly as sent), `media.jsonl`
 * (`{name, file}`: each image's wandb file name and its path relative to the run directory) and
 * `status.json`. Appends are synchronous and small so that a crash loses at most the current step.
 */
export class WandbJournal {
  readonly dir: string;

  constructor(readonly runDir: string) {
    this.dir = path.join(runDir, 'wandb');
  }

  private file(name: string): string {
    return path.join(this.dir, name);
  }

  exists(): boolean {
    return existsSync(this.file('run.json'));
  }

  readRun(): WandbRunInfo {
    return this.readJson<WandbRunInfo>('run.json');
  }

  writeRun(info: WandbRunInfo): void {
    writeFileAtomicSync(this.file('run.json'), `${JSON.stringify(info, null, 2)}\n`);
  }

  readConfig(): Record<string, unknown> {
    return existsSync(this.file('config.json')) ? this.readJson('config.json') : {};
  }

  writeConfig(config: unknown): void {
    writeFileAtomicSync(this.file('config.json'), `${JSON.stringify(config, null, 2)}\n`);
  }

  appendRow(row: HistoryRow): void {
    appendFileSync(this.file('history.jsonl'), `${JSON.stringify(row)}\n`);
  }

  appendMedia(media: MediaFile): void {
    appendFileSync(this.file('media.jsonl'), `${JSON.stringify(media)}\n`);
  }

  readRows(): HistoryRow[] {
    return this.readLines<HistoryRow>('history.jsonl');
  }

  readMedia(): MediaFile[] {
    return this.readLines<MediaFile>('media.jsonl');
  }

  /** Every row with the image files it references, for replaying; `missing` lists references without a file. */
  replay(): { rows: Array<{ row: HistoryRow; media: MediaFile[] }>; missing: string[] } {
    const byName = new Map(this.readMedia().map((m) => [m.name, m]));
    const missing: string[] = [];
    const rows = this.readRows().map((row) => {
      const media: MediaFile[] = [];
      for (const value of Object.values(row)) {
        if (!isImageRef(value)) continue;
        const file = byName.get(value.path);
        if (file && existsSync(path.resolve(this.runDir, file.file))) media.push(file);
        else missing.push(value.path);
      }
      return { row, media };
    });
    return { rows, missing };
  }

  readStatus(): WandbStatus | undefined {
    return existsSync(this.file('status.json')) ? this.readJson('status.json') : undefined;
  }

  writeStatus(status: WandbStatus): void {
    writeFileAtomicSync(this.file('status.json'), `${JSON.stringify(status, null, 2)}\n`);
  }

  private readJson<T>(name: string): T {
    const file = this.file(name);
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as T;
    } catch (error) {
      throw new BtError('DATA_CORRUPT', `Cannot read the wandb journal file ${file}: ${(error as Error).message}`, {
        hint: 'The run directory must hold a run logged by the `wandb` logger (its `wandb/` folder).',
        cause: error,
      });
    }
  }

  /** Skips a torn last line (a crash mid-append) rather than refusing the whole journal. */
  private readLines<T>(name: string): T[] {
    const file = this.file(name);
    if (!existsSync(file)) return [];
    const out: T[] = [];
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      try {
        out.push(JSON.parse(line) as T);
      } catch {
        // a partial line from an interrupted write
      }
    }
    return out;
  }
}
