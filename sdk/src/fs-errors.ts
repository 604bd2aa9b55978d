import { statfsSync, statSync } from 'node:fs';
import path from 'node:path';
import { BtError } from './errors.js';

// File-system failures in words: the errno, the file, the disk, and what to do about it.

const ERRNO_WORDS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'the file system is read-only',
  ENOSPC: 'no space left on the disk',
  EDQUOT: 'the disk quota is used up',
  ENOENT: 'a directory on its path does not exist',
  EEXIST: 'it already exists',
  EISDIR: 'it is a directory',
  ENAMETOOLONG: 'the path or one of its names is too long',
  ELOOP: 'too many symbolic links (a link cycle?)',
  EIO: 'an input/output error (a failing disk or network share?)',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files on this machine',
  EBUSY: 'it is busy',
  EXDEV: 'it is on another file system',
};

/** `code` of a Node file-system error, if it has one. */
export function errnoCode(error: unknown): string | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** A file-system error in words with its errno, e.g. "permission denied (EACCES)". */
export function describeFsError(error: unknown): string {
  const code = errnoCode(error);
  if (code === 'ENOTDIR') {
    const file = fileOnPath((error as NodeJS.ErrnoException).path);
    return `${file ? `${file} is a file` : 'a file on its path is'}, not a directory (ENOTDIR)`;
  }
  if (code && ERRNO_WORDS[code]) return `${ERRNO_WORDS[code]} (${code})`;
  return error instanceof Error ? error.message : String(error);
}

/** Whether the error says the disk is full (as opposed to a path or permission problem). */
export function isDiskFull(error: unknown): boolean {
  const code = errnoCode(error instanceof BtError ? error.cause : error);
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/** The disk that holds `target`: its mount point and free space, e.g. "the disk mounted at /data has 1.2 GB free". */
export function describeDisk(target: string): string {
  try {
    let dir = path.resolve(target);
    while (!existsDir(dir) && path.dirname(dir) !== dir) dir = path.dirname(dir);
    const device = statSync(dir).dev;
    let mount = dir;
    while (path.dirname(mount) !== mount && statSync(path.dirname(mount)).dev === device) mount = path.dirname(mount);
    let free = '';
    try {
      const stats = statfsSync(dir);
      free = ` has ${formatBytes(stats.bavail * stats.bsize)} free`;
    } catch {
      // statfs is missing on some platforms; the mount point alone still names the disk.
    }
    return `the disk mounted at ${mount}${free}`;
  } catch {
    return `the disk that holds ${target}`;
  }
}

/** The error `writeFileAtomic` throws: the file, the cause in words and, for a full disk, which disk. */
export function fileWriteError(file: string, error: unknown, bytes?: number): BtError {
  if (error instanceof BtError) return error;
  const size = bytes === undefined ? '' : ` (${formatBytes(bytes)})`;
  if (isDiskFull(error)) {
    return new BtError('FILE_WRITE_FAILED', `Cannot write ${file}${size}: ${describeFsError(error)}; ${describeDisk(path.dirname(file))}.`, {
      hint: 'Free space on that disk (old runs\' checkpoints are the largest files), or write to another disk (for a run: set `runDir`).',
      cause: error,
    });
  }
  const hint = `Make ${path.dirname(file)} a writable directory, or write somewhere else (for a run: set \`runDir\`).`;
  return new BtError('FILE_WRITE_FAILED', `Cannot write ${file}: ${describeFsError(error)}.`, { hint, cause: error });
}

function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  for (; value >= 1000 && unit < units.length - 1; unit++) value /= 1000;
  return `${unit === 0 ? value : value.toPrecision(3)} ${units[unit]}`;
}

function existsDir(dir: string): boolean {
  try {
    return statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

/** The first existing non-directory on `target`'s path: the cause of an ENOTDIR. */
function fileOnPath(target: string | undefined): string | undefined {
  if (!target) return undefined;
  const parts: string[] = [];
  for (let p = path.resolve(target); path.dirname(p) !== p; p = path.dirname(p)) parts.unshift(p);
  for (const p of parts) {
    try {
      if (!statSync(p).isDirectory()) return p;
    } catch {
      return undefined;
    }
  }
  return undefined;
}
