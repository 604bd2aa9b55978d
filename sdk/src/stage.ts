/**
 * Tap order for lifecycle hooks (tapable's `stage`): lower runs first. Runtime plugins see an event
 * before loggers, loggers before visualisations, checkpoints after the metrics they monitor are
 * known, early stopping last.
 */
export const Stage = {
  runtime: -1000,
  default: 0,
  logging: 100,
  visualisation: 200,
  checkpoint: 300,
  earlyStop: 400,
} as const;

export type StageName = keyof typeof Stage;
