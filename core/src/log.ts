import { appendFileSync } from 'node:fs';
import type { Log } from '@bt-platform/sdk';
import { redactText } from './secrets.js';

export type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Writes to stderr (from `consoleLevel` up) and, once the run directory exists, to its log.txt. */
export class RunLog implements Log {
  private file?: string;

  constructor(
    private readonly consoleLevel: Level = 'info',
    private readonly write: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
  ) {}

  attachFile(file: string): void {
    this.file = file;
  }

  private emit(level: Level, message: string): void {
    const text = redactText(message);
    if (ORDER[level] >= ORDER[this.consoleLevel]) this.write(level === 'info' || level === 'debug' ? text : `${level}: ${text}`);
    if (this.file) this.appendToFile(this.file, `${new Date().toISOString()} ${level.padEnd(5)} ${text}\n`);
  }

  /** A log line is not worth a training run: on a write failure, say so once and keep logging to the console. */
  private appendToFile(file: string, line: string): void {
    try {
      appendFileSync(file, line);
    } catch (error) {
      this.file = undefined;
      const err = error as NodeJS.ErrnoException;
      const cause = err.code === 'ENOSPC' ? 'the disk is full' : err.code === 'EACCES' || err.code === 'EPERM' ? 'permission denied' : (err.code ?? err.message);
      this.write(`warn: cannot write the log file ${file} (${cause}); logging continues on the console only. Free space or fix the permissions of the run directory.`);
    }
  }

  debug(message: string): void {
    this.emit('debug', message);
  }
  info(message: string): void {
    this.emit('info', message);
  }
  warn(message: string): void {
    this.emit('warn', message);
  }
  error(message: string): void {
    this.emit('error', message);
  }
}
