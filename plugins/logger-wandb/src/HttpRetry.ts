/** A request that failed for good: `status` is set when the server answered. */
export class HttpFailure extends Error {
  constructor(message: string, readonly status?: number) {
    super(message);
    this.name = 'HttpFailure';
  }
}

export interface RetryPolicy {
  /** Timeout of one attempt. */
  timeoutMs: number;
  /** Attempts after the first. */
  retries: number;
  /** First backoff delay; doubles each retry (with jitter), capped at 4 s. */
  backoffMs?: number;
  /** Aborts waiting and in-flight attempts (the logger abandoning its queue). */
  signal?: AbortSignal;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Server hiccups worth retrying; other 4xx answers will not change on a retry. */
function retryable(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

function describe(error: unknown, url: string, timeoutMs: number): string {
  const e = error as Error & { cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError') return `no answer from ${url} within ${timeoutMs} ms`;
  if (e?.name === 'AbortError') return `request to ${url} abandoned`;
  const cause = e?.cause?.code ?? e?.cause?.message;
  return `${url}: ${e?.message ?? String(error)}${cause ? ` (${cause})` : ''}`;
}

/**
 * fetch with a timeout per attempt and bounded retries with exponential backoff, so that a down,
 * failing or hung endpoint costs a known, bounded time. Throws HttpFailure with a readable reason.
 */
export async function fetchWithRetry(url: string, init: RequestInit, policy: RetryPolicy): Promise<Response> {
  const backoff = policy.backoffMs ?? 250;
  let reason = '';
  for (let attempt = 0; attempt <= policy.retries; attempt++) {
    if (policy.signal?.aborted) throw new HttpFailure(`request to ${url} abandoned`);
    if (attempt > 0) await sleep(Math.min(4000, backoff * 2 ** (attempt - 1) * (1 + Math.random() * 0.5)), policy.signal);
    if (policy.signal?.aborted) throw new HttpFailure(`request to ${url} abandoned (${reason})`);
    const signals = [AbortSignal.timeout(policy.timeoutMs), ...(policy.signal ? [policy.signal] : [])];
    try {
      const response = await fetch(url, { ...init, signal: AbortSignal.any(signals) });
      if (response.ok) return response;
      const body = (await response.text().catch(() => '')).slice(0, 200);
      reason = `${url} answered HTTP ${response.status}${body ? `: ${body}` : ''}`;
      if (!retryable(response.status)) throw new HttpFailure(reason, response.status);
    } catch (error) {
      if (error instanceof HttpFailure) throw error;
      reason = describe(error, url, policy.timeoutMs);
    }
  }
  throw new HttpFailure(`${reason} (gave up after ${policy.retries + 1} attempts)`);
}
