/** A requested key matches a logged one exactly, or with `*` standing for one path part (`val/IoU/*`). */
function matches(pattern: string, key: string): boolean {
  if (!pattern.includes('*')) return pattern === key;
  const parts = pattern.split('/');
  const keyParts = key.split('/');
  return parts.length === keyParts.length && parts.every((p, i) => p === '*' || p === keyParts[i]);
}

/**
 * The metrics of an epoch line, as `[label, value]`. Requested keys are shown in their order: a
 * training key the trainer logs per step (`train/loss`) reads its epoch mean (`train/loss_epoch`),
 * and `*` matches one path part. Without a request: every `val/` scalar and the epoch loss;
 * per-class keys (`val/IoU/<class>`) only when asked for. `unmatched` lists requested keys absent here.
 */
export function epochMetrics(metrics: Record<string, number>, requested?: string[]): { shown: Array<[string, number]>; unmatched: string[] } {
  if (!requested) {
    const keys = Object.keys(metrics)
      .filter((k) => (k.startsWith('val/') && k.split('/').length === 2) || k === 'train/loss_epoch')
      .sort();
    return { shown: keys.map((k) => [k, metrics[k]]), unmatched: [] };
  }
  const shown: Array<[string, number]> = [];
  const unmatched: string[] = [];
  for (const key of requested) {
    if (key.includes('*')) {
      const found = Object.keys(metrics).filter((k) => matches(key, k));
      if (!found.length) unmatched.push(key);
      for (const k of found) shown.push([k, metrics[k]]);
    } else if (metrics[key] !== undefined) shown.push([key, metrics[key]]);
    else if (metrics[`${key}_epoch`] !== undefined) shown.push([key, metrics[`${key}_epoch`]]);
    else unmatched.push(key);
  }
  return { shown, unmatched };
}
