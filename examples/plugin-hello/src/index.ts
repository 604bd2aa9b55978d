import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { definePlugin, Slots, Stage, z } from '@bt-platform/sdk';

/**
 * An example third-party plugin. It depends on the SDK alone and shows both extension points:
 * `register` adds a component (a `csv` logger), `apply` taps hooks for the whole run.
 */
export default definePlugin({
  name: 'hello',
  version: '0.1.0',
  description: 'Example plugin: a CSV metrics logger and a greeting at the end of training.',
  options: z.strictObject({ greeting: z.string().default('hello from a plugin') }),
  register(registrar) {
    registrar.component(Slots.logger, {
      name: 'csv',
      description: 'Writes every metric to <runDir>/<file> as step,epoch,key,value rows.',
      options: z.strictObject({ file: z.string().default('metrics.csv') }),
      create: (options, ctx) => ({
        apply(hooks) {
          const file = path.join(ctx.runDir, options.file);
          hooks.metrics.tapPromise({ name: 'hello:csv', stage: Stage.logging }, async (event) => {
            if (!existsSync(file)) writeFileSync(file, 'step,epoch,key,value\n');
            const rows = Object.entries(event.values).map(([k, v]) => `${event.step},${event.epoch},${k},${v}`);
            appendFileSync(file, `${rows.join('\n')}\n`);
          });
        },
      }),
    });
  },
  apply(hooks, ctx) {
    hooks.fitEnd.tapPromise({ name: 'hello', stage: Stage.logging }, async (event) => {
      ctx.log.info(`${ctx.options.greeting} (after ${event.globalStep} steps)`);
      ctx.setSummary('greeting', ctx.options.greeting);
    });
  },
});
