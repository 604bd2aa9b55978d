import { promises as fsp, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { errnoCode, fileWriteError } from './fs-errors.js';

export * from './fs-errors.js';

/** This machine's name in temporary file names: run directories may sit on a disk other machines share. */
const HOST = os.hostname().replace(/[^\w.-]/g, '_') || 'localhost';
let tempSequence = 0;

/**
 * `<file>.tmp-<pid>-<ms>-<n>@<host>`: the writer's pid and machine tell a killed writer's leftover
 * from a file that a live process is still writing.
 */
function tempPathFor(file: string): string {
  return `${file}.tmp-${process.pid}-${Date.now()}-${tempSequence++}@${HOST}`;
}

/** Also matches `<file>.tmp-<pid>-<ms>`, which earlier versions wrote (no sequence, no host). */
const TEMP_NAME = /\.tmp-(\d+)-\d+(?:-\d+)?(?:@([\w.-]+))?$/;
/** Bounds the scan of a directory tree someone pointed `runDir` at (their home, a repository). */
const MAX_SCANNED_DIRS = 10_000;

/**
 * Writes through a temporary file in the same directory and renames it into place, so a crash
 * leaves either the old file or the new one, never a half-written one. A failure removes the
 * temporary file and throws a `FILE_WRITE_FAILED` error naming the file and the cause.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const tmp = tempPathFor(file);
  try {
    ensureDirSync(path.dirname(file));
    const handle = await fsp.open(tmp, 'wx');
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fsp.rename(tmp, file);
  } catch (error) {
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    throw fileWriteError(file, error, byteLength(data));
  }
}

export function writeFileAtomicSync(file: string, data: string | Uint8Array): void {
  const tmp = tempPathFor(file);
  try {
    ensureDirSync(path.dirname(file));
    writeFileSync(tmp, data, { flag: 'wx' });
    renameSync(tmp, file);
  } catch (error) {
    try {
      rmSync(tmp, { force: true });
    } catch {
      // The write's own error is the one to report.
    }
    throw fileWriteError(file, error, byteLength(data));
  }
}

/**
 * Creates `dir` and its missing parents one level at a time. Node's recursive mkdir reports
 * ENOENT for an unwritable parent and never returns on file systems that refuse directories
 * (under /proc); this reports the real errno and always ends.
 */
export function ensureDirSync(dir: string): void {
  const missing: string[] = [];
  for (let p = path.resolve(dir); ; p = path.dirname(p)) {
    try {
      if (statSync(p).isDirectory()) break;
      throw errnoError('ENOTDIR', 'mkdir', p);
    } catch (error) {
      if (errnoCode(error) !== 'ENOENT' || path.dirname(p) === p) throw error;
      missing.push(p);
    }
  }
  for (const p of missing.reverse()) {
    try {
      mkdirSync(p);
    } catch (error) {
      // Another process may create the same directory at the same moment.
      if (errnoCode(error) !== 'EEXIST' || !statSync(p).isDirectory()) throw error;
    }
  }
}

/**
 * Removes the temporary files that writers on this machine left behind when they were killed
 * mid-write (their process no longer exists), in `dir` and up to `depth` levels of subdirectories.
 * A live process's files and another machine's are kept. Never throws; returns what it removed.
 */
export function removeStaleTempFiles(dir: string, depth = 0): string[] {
  const removed: string[] = [];
  let scanned = 0;
  const visit = (current: string, level: number): void => {
    if (scanned++ >= MAX_SCANNED_DIRS) return;
    let entries;
    try {
      entries = readdirSync(current, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const file = path.join(current, entry.name);
      if (entry.isDirectory()) {
        if (level < depth) visit(file, level + 1);
        continue;
      }
      const match = entry.isFile() ? TEMP_NAME.exec(entry.name) : null;
      if (!match || (match[2] !== undefined && match[2] !== HOST) || processIsAlive(Number(match[1]))) continue;
      try {
        rmSync(file, { force: true });
        removed.push(file);
      } catch {
        // Someone else's file we may not delete: leave it.
      }
    }
  };
  visit(dir, 0);
  return removed;
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to another user.
    return errnoCode(error) === 'EPERM';
  }
}

function byteLength(data: string | Uint8Array): number {
  return typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
}

function errnoError(code: string, syscall: string, target: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${syscall} '${target}'`), { code, syscall, path: target });
}
