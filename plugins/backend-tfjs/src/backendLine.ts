import type { BackendInfo, Log } from '@bt-platform/sdk';

/** What a backend may report beyond the SDK's BackendInfo, for the line printed when it starts. */
export interface BackendLineFacts {
  threads?: number;
  /** The vector extension compiled kernels target (native: -march=native); results round by it. */
  vectorExtension?: string;
}

/**
 * One short line when a backend starts: name, device, vector extension, threads and how it was
 * chosen. Why, and what `auto` skipped, go to the debug level: shown with -v, always in log.txt.
 */
export function logBackend(log: Log, info: BackendInfo & BackendLineFacts, how = 'requested in the config'): void {
  // The cpu and wasm kernels run on the JavaScript thread.
  const threads = info.threads ?? (info.name === 'cpu' || info.name === 'wasm' ? 1 : undefined);
  const facts = [info.device, info.vectorExtension && `${info.vectorExtension} kernels`, threads && `${threads} thread${threads > 1 ? 's' : ''}`].filter(Boolean);
  log.info(`backend: ${info.name} (${facts.join(', ')}; ${how})`);
  log.debug(`backend ${info.name}: ${info.detail}`);
}
