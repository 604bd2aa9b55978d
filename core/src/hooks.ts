import { BtError, createLifecycleHooks, isBtError, type HookName, type LifecycleHooks } from '@bt-platform/sdk';

interface TapInfo {
  type: 'sync' | 'async' | 'promise';
  name: string;
  fn: (...args: any[]) => any;
}

function wrapError(error: unknown, plugin: string, hook: string): BtError {
  const original = error instanceof Error ? error : new Error(String(error));
  if (isBtError(original) && original.message.startsWith('[')) return original;
  const message = `[${plugin}] failed in hook "${hook}": ${original.message}`;
  if (isBtError(original)) return new BtError(original.code, message, { hint: original.hint, cause: original, exitCode: original.exitCode });
  return new BtError('HOOK_FAILED', message, { cause: original, hint: 'The error comes from that plugin; run with --verbose for its stack trace.' });
}

/**
 * The run's lifecycle hooks, with one interceptor on each that wraps every tap so a throw
 * anywhere becomes an error naming the plugin and the hook.
 */
export function createHooks(): LifecycleHooks {
  const hooks = createLifecycleHooks();
  for (const [hookName, hook] of Object.entries(hooks) as Array<[HookName, { intercept(i: object): void }]>) {
    hook.intercept({
      register(tap: TapInfo): TapInfo {
        const fn = tap.fn;
        const plugin = tap.name;
        if (tap.type === 'promise') {
          return { ...tap, fn: (...args: unknown[]) => Promise.resolve().then(() => fn(...args)).catch((e: unknown) => { throw wrapError(e, plugin, hookName); }) };
        }
        if (tap.type === 'async') {
          return {
            ...tap,
            fn: (...args: unknown[]) => {
              const callback = args.pop() as (error?: unknown, result?: unknown) => void;
              try {
                fn(...args, (error?: unknown, result?: unknown) => callback(error ? wrapError(error, plugin, hookName) : undefined, result));
              } catch (e) {
                callback(wrapError(e, plugin, hookName));
              }
            },
          };
        }
        return {
          ...tap,
          fn: (...args: unknown[]) => {
            try {
              return fn(...args);
            } catch (e) {
              throw wrapError(e, plugin, hookName);
            }
          },
        };
      },
    });
  }
  return hooks;
}
