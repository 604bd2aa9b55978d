import type { BackendInfo, Log } from '@bt-platform/sdk';
import { logBackend } from './backendLine.js';

/** One backend `auto` may pick: `load` initialises it or throws saying why it cannot. */
export interface BackendCandidate {
  name: string;
  load(): Promise<BackendInfo>;
}

/**
 * Tries the candidates in order and keeps the first that loads; the log line says what was picked
 * and why each earlier candidate was skipped, so a slow run is never a mystery.
 */
export async function pickBackend(candidates: readonly BackendCandidate[], log: Log): Promise<BackendInfo> {
  const skipped: string[] = [];
  for (const candidate of candidates) {
    try {
      const info = await candidate.load();
      const detail = `picked by auto: ${info.detail}${skipped.length ? `; skipped ${skipped.join('; ')}` : ''}`;
      logBackend(log, { ...info, detail }, `picked by auto${skipped.length ? `, ${skipped.length} skipped` : ''}`);
      return { ...info, detail };
    } catch (error) {
      skipped.push(`${candidate.name}: ${reason(error)}`);
    }
  }
  throw new Error(`no backend could be initialised (${skipped.join('; ')})`);
}

/** A one-line reason; a missing optional package reads "not installed". */
export function reason(error: unknown): string {
  const message = (error as Error)?.message ?? String(error);
  if (/Cannot find (module|package)|ERR_MODULE_NOT_FOUND/.test(message) || (error as { code?: string })?.code === 'ERR_MODULE_NOT_FOUND') return 'not installed';
  return message.split('\n')[0];
}
