import { appendFileSync, existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, Stage, writeFileAtomicSync, z, type HookView, type Logger, type MetricsEvent } from '@bt-platform/sdk';

export const csvMetricsOptions = z.strictObject({
  file: z.string().min(1).default('metrics.csv').describe('where to write, relative to the run directory'),
});

const TAP = { name: 'tiny-cnn:csv-metrics', stage: Stage.logging };

interface Row {
  step: number;
  epoch: number;
  values: Record<string, number>;
}

function cell(text: string): string {
  return /[",\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/**
 * Writes metrics as a wide CSV table, one row per (step, epoch) and one column per metric key, as
 * PyTorch Lightning's CSVLogger does. Events of the same step and epoch (a step's training loss, then
 * that epoch's validation metrics) share a row, which is written once the next step begins or the run
 * ends. A key seen for the first time adds a column: the file is then rewritten with the wider header.
 */
export class CsvMetricsLogger implements Logger {
  private readonly columns: string[] = [];
  private readonly written: Row[] = [];
  private pending?: Row;

  constructor(readonly file: string) {
    if (existsSync(file) && statSync(file).isDirectory()) {
      throw new ConfigError('CONFIG_INVALID', `loggers (csv-metrics): file ${file} is a directory.`, { hint: 'Give `file` a file name, e.g. metrics.csv.' });
    }
  }

  apply(hooks: HookView): void {
    hooks.metrics.tapPromise(TAP, async (event) => this.add(event));
    // Teardown fires after every run, failed or interrupted ones included: the last row is kept.
    hooks.teardown.tapPromise(TAP, async () => this.flush());
  }

  private add(event: MetricsEvent): void {
    if (this.pending && (this.pending.step !== event.step || this.pending.epoch !== event.epoch)) this.flush();
    this.pending ??= { step: event.step, epoch: event.epoch, values: {} };
    Object.assign(this.pending.values, event.values);
  }

  private flush(): void {
    const row = this.pending;
    if (!row) return;
    this.pending = undefined;
    this.written.push(row);
    const added = Object.keys(row.values).filter((key) => !this.columns.includes(key));
    if (added.length || !existsSync(this.file)) {
      this.columns.push(...added);
      writeFileAtomicSync(this.file, [this.header(), ...this.written.map((r) => this.line(r))].join(''));
    } else {
      appendFileSync(this.file, this.line(row));
    }
  }

  private header(): string {
    return `${['step', 'epoch', ...this.columns].map(cell).join(',')}\n`;
  }

  private line(row: Row): string {
    return `${[row.step, row.epoch, ...this.columns.map((key) => row.values[key] ?? '')].join(',')}\n`;
  }
}

export function createCsvMetricsLogger(options: z.output<typeof csvMetricsOptions>, runDir: string): CsvMetricsLogger {
  return new CsvMetricsLogger(path.resolve(runDir, options.file));
}
