import { Stage, type Histogram, type HistogramsEvent, type HookView, type MetricsEvent } from '@bt-platform/sdk';

/** What `wandb.Histogram` serialises to in a history row (as `wandb.watch` logs `gradients/…` and `parameters/…`). */
export interface WandbHistogram {
  _type: 'histogram';
  /** Bin edges, one more than `values`. */
  bins: number[];
  /** Counts per bin. */
  values: number[];
}

export function wandbHistogram(histogram: Histogram): WandbHistogram {
  return { _type: 'histogram', bins: histogram.edges, values: histogram.counts };
}

/** The logger's entry point for values of a step's history row. */
interface RowSink {
  onMetrics(event: MetricsEvent): Promise<void>;
}

/**
 * Puts the `histograms` hook's histograms into the wandb history row of their step, in wandb's
 * histogram format. The row takes them as it takes scalars; histograms come at the callback's own
 * interval, so `logEvery` does not thin them.
 */
export function tapWandbHistograms(hooks: HookView, logger: RowSink): void {
  hooks.histograms.tapPromise({ name: 'logger-wandb', stage: Stage.logging }, async (event: HistogramsEvent) => {
    const values = Object.fromEntries(Object.entries(event.values).map(([key, h]) => [key, wandbHistogram(h)]));
    // Rows are JSON: a histogram object goes where a number would.
    await logger.onMetrics({ epoch: event.epoch, step: event.step, values: values as unknown as Record<string, number> });
  });
}
