/**
 * Errors a user can cause carry a stable `code`, say where the problem is and how to fix it.
 * The CLI maps `exitCode` to the process exit status (2: config, 1: runtime) and prints the
 * stack only with --verbose.
 */
export type ErrorCode =
  | 'CONFIG_NOT_FOUND'
  | 'CONFIG_INVALID'
  | 'CONFIG_UNKNOWN_COMPONENT'
  | 'PLUGIN_LOAD_FAILED'
  | 'PLUGIN_INVALID'
  | 'PLUGIN_DUPLICATE'
  | 'HOOK_FAILED'
  | 'BACKEND_UNAVAILABLE'
  | 'CHECKPOINT_INVALID'
  | 'CHECKPOINT_MISMATCH'
  | 'WEIGHTS_MISMATCH'
  | 'WEIGHTS_NOT_FOUND'
  | 'WEIGHTS_UNAVAILABLE'
  | 'WEIGHTS_CORRUPT'
  | 'DATA_MISSING'
  | 'DATA_CORRUPT'
  | 'FILE_WRITE_FAILED'
  | 'NON_FINITE_LOSS'
  | 'OUT_OF_MEMORY'
  | 'INTERRUPTED'
  | 'RUNTIME';

export interface BtErrorOptions {
  /** What the user can do about it. Printed on its own line after the message. */
  hint?: string;
  cause?: unknown;
  exitCode?: number;
}

export class BtError extends Error {
  readonly code: ErrorCode;
  readonly hint?: string;
  readonly exitCode: number;

  constructor(code: ErrorCode, message: string, options: BtErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BtError';
    this.code = code;
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? 1;
  }
}

/** A problem in the user's configuration: exit code 2. */
export class ConfigError extends BtError {
  constructor(code: ErrorCode, message: string, options: Omit<BtErrorOptions, 'exitCode'> = {}) {
    super(code, message, { ...options, exitCode: 2 });
    this.name = 'ConfigError';
  }
}

export function isBtError(error: unknown): error is BtError {
  return error instanceof BtError;
}
