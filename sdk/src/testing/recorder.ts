import type { HookName, HookView } from '../hooks.js';
import { Stage } from '../stage.js';
import { definePlugin, type PluginDefinition } from '../plugin.js';

const ASYNC: HookName[] = [
  'setup', 'fitStart', 'trainEpochStart', 'trainBatchEnd', 'trainEpochEnd', 'validationStart', 'validationBatchEnd',
  'validationEnd', 'testStart', 'testBatchEnd', 'testEnd', 'metrics', 'media', 'histograms', 'loadCheckpoint', 'fitEnd', 'exception', 'teardown',
];
const SYNC: HookName[] = ['trainBatchStart', 'beforeBackward', 'afterBackward', 'beforeOptimizerStep', 'shouldStop'];

/** Records the name of every hook call (and its payload) of a run, in order. */
export class HookRecorder {
  readonly calls: Array<{ hook: HookName; event: unknown }> = [];

  get names(): HookName[] {
    return this.calls.map((c) => c.hook);
  }

  /** Names with consecutive repeats collapsed to `name×n`, for readable sequence assertions. */
  compact(filter: (hook: HookName) => boolean = () => true): string[] {
    const out: string[] = [];
    let last = '';
    let count = 0;
    const flush = () => {
      if (count) out.push(count > 1 ? `${last}×${count}` : last);
    };
    for (const name of this.names.filter(filter)) {
      if (name === last) count++;
      else {
        flush();
        last = name;
        count = 1;
      }
    }
    flush();
    return out;
  }

  plugin(): PluginDefinition {
    return definePlugin({
      name: 'hook-recorder',
      apply: (hooks: HookView) => {
        const tap = { name: 'hook-recorder', stage: Stage.runtime - 1 };
        for (const hook of ASYNC) {
          (hooks[hook] as { tapPromise(o: object, f: (e: unknown) => Promise<void>): void }).tapPromise(tap, async (event) => {
            this.calls.push({ hook, event });
          });
        }
        for (const hook of SYNC) {
          (hooks[hook] as { tap(o: object, f: (e: unknown) => undefined): void }).tap(tap, (event) => {
            this.calls.push({ hook, event });
            return undefined;
          });
        }
        hooks.transformBatch.tap(tap, (batch, event) => {
          this.calls.push({ hook: 'transformBatch', event });
          return batch;
        });
        hooks.saveCheckpoint.tapPromise(tap, async (state) => {
          this.calls.push({ hook: 'saveCheckpoint', event: state });
          return state;
        });
      },
    });
  }
}
