/** A component selection: `{ use: <registered name>, ...its options }`. */
export type ComponentConfig = { use: string } & Record<string, unknown>;

export interface TrainerConfig {
  maxEpochs?: number;
  maxSteps?: number;
  valEveryNEpochs?: number;
  accumulateGradBatches?: number;
  fastDevRun?: boolean;
  limitTrainBatches?: number;
  limitValBatches?: number;
  onNonFiniteLoss?: 'stop' | 'skip' | 'ignore';
  gradClipNorm?: number;
}

/** The config file's shape, for `bt-platform.config.ts` authors (validated again at load). */
export interface BtConfig {
  extends?: string | string[];
  name?: string;
  seed?: number;
  runDir?: string;
  plugins?: Array<string | ComponentConfig>;
  backend?: ComponentConfig;
  data?: ComponentConfig;
  model?: { backbone?: ComponentConfig; head?: ComponentConfig };
  task?: ComponentConfig;
  optimizer?: ComponentConfig;
  lrSchedule?: ComponentConfig;
  trainer?: TrainerConfig;
  callbacks?: ComponentConfig[];
  loggers?: ComponentConfig[];
  /** A pipeline: stages run in order, each merged over the keys above. */
  stages?: Array<{ name: string } & Omit<BtConfig, 'stages'>>;
}

/** Identity helper: type inference for configs written in TypeScript. */
export function defineConfig(config: BtConfig): BtConfig {
  return config;
}
