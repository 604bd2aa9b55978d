/** The run's log: console (progress-bar aware) and the run directory's log file. */
export interface Log {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}
