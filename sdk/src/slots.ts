import type { Backbone, Backend, Callback, DataModule, Head, Logger, LrSchedule, Optimizer, Task } from './components.js';

/**
 * A component slot: a DI token plus where the config selects it. `multi` slots hold a list of
 * components (every callback, every logger); the others hold exactly one.
 */
export interface Slot<T> {
  readonly id: symbol;
  readonly key: string;
  /** Dotted path of the slot in the config file. */
  readonly configPath: string;
  readonly multi: boolean;
  /** Phantom field carrying the component type. */
  readonly __type?: T;
}

function slot<T>(key: string, configPath: string, multi = false): Slot<T> {
  return Object.freeze({ id: Symbol.for(`bt-platform.${key}`), key, configPath, multi });
}

export const Slots = Object.freeze({
  backend: slot<Backend>('backend', 'backend'),
  datamodule: slot<DataModule>('datamodule', 'data'),
  backbone: slot<Backbone>('backbone', 'model.backbone'),
  head: slot<Head>('head', 'model.head'),
  task: slot<Task>('task', 'task'),
  optimizer: slot<Optimizer>('optimizer', 'optimizer'),
  lrSchedule: slot<LrSchedule>('lrSchedule', 'lrSchedule'),
  callback: slot<Callback>('callback', 'callbacks', true),
  logger: slot<Logger>('logger', 'loggers', true),
});

export type SlotKey = keyof typeof Slots;
export type AnySlot = (typeof Slots)[SlotKey];
export type ComponentOf<S> = S extends Slot<infer T> ? T : never;
