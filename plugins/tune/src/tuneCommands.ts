import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { BtError, Slots, type CommandContext, type CommandDefinition, type CommandOption } from '@bt-platform/sdk';
import { findBatchSize, type BatchSizeOptions, type BatchSizeResult } from './batchSizeFinder.js';
import { writeLrPlot } from './LrPlot.js';
import { lrRangeTest, type LrRangeOptions, type LrRangeResult } from './lrRangeTest.js';
import { formatBytes, parseBytes } from './parseBytes.js';

type Print = (line: string) => void;
const stdout: Print = (line) => process.stdout.write(`${line}\n`);

const configOptions: CommandOption[] = [
  { flags: '-c, --config <file>', description: 'config file (default: bt-platform.config.* or .bt-platformrc* in the current directory)' },
  { flags: '--set <key=value...>', description: 'override config keys, e.g. --set data.batchSize=16' },
];

function number(value: unknown, flag: string, check: (n: number) => boolean = (n) => n > 0, what = 'a positive number'): number {
  const n = Number(value);
  if (value === undefined || value === '' || !Number.isFinite(n) || !check(n)) {
    throw new BtError('RUNTIME', `tune: ${flag} must be ${what}, got "${value}".`, { hint: `Fix ${flag} (see --help for its default).`, exitCode: 2 });
  }
  return n;
}

const positiveInt = (value: unknown, flag: string) => number(value, flag, (n) => Number.isInteger(n) && n >= 1, 'a positive integer');

async function withSession<T>(ctx: CommandContext, options: Record<string, unknown>, name: string, fn: (session: Awaited<ReturnType<CommandContext['openSession']>>) => Promise<T>): Promise<T> {
  const configFile = options.config ? path.resolve(ctx.cwd, options.config as string) : undefined;
  const session = await ctx.openSession({ configFile, overrides: (options.set as string[] | undefined) ?? [], name });
  try {
    return await fn(session);
  } finally {
    await session.close();
  }
}

/** `tune lr`: the range test, its plot, and the suggestion as a config override. */
export async function tuneLr(options: Record<string, unknown>, ctx: CommandContext, print: Print = stdout): Promise<LrRangeResult & { runDir: string; overrideFile?: string }> {
  const settings: LrRangeOptions = {
    minLr: number(options.minLr ?? 1e-7, '--min-lr'),
    maxLr: number(options.maxLr ?? 1, '--max-lr'),
    steps: positiveInt(options.steps ?? 100, '--steps'),
    divergeThreshold: number(options.diverge ?? 4, '--diverge', (n) => n > 1, 'a number above 1'),
    beta: 0.98,
    skipBegin: number(options.skipBegin ?? 10, '--skip-begin', (n) => Number.isInteger(n) && n >= 0, 'a whole number'),
    skipEnd: number(options.skipEnd ?? 1, '--skip-end', (n) => Number.isInteger(n) && n >= 0, 'a whole number'),
  };
  if (settings.minLr >= settings.maxLr) throw new BtError('RUNTIME', `tune lr: --min-lr (${settings.minLr}) must be below --max-lr (${settings.maxLr}).`, { hint: 'For example --min-lr 1e-7 --max-lr 1.', exitCode: 2 });
  return withSession(ctx, options, 'tune-lr', async (session) => {
    const result = await lrRangeTest(session, settings, (i, lr, smoothed) => {
      if (process.stderr.isTTY) process.stderr.write(`\rtune lr: step ${i + 1}/${settings.steps}  lr ${lr.toExponential(2)}  loss ${smoothed.toPrecision(4)}   `);
    });
    if (process.stderr.isTTY) process.stderr.write('\n');
    writeFileSync(path.join(session.runDir, 'lr-finder.json'), `${JSON.stringify({ ...settings, ...result }, null, 2)}\n`);
    const plot = path.join(session.runDir, 'lr-finder.png');
    await writeLrPlot(plot, result);
    print(`LR range test: ${result.lrs.length} steps from ${settings.minLr} to ${result.lrs.at(-1)!.toExponential(2)}${result.stopped ? ` (stopped: ${result.stopped})` : ''}`);
    print(`plot: ${plot}`);
    if (!result.suggestion) {
      print(`no suggestion: fewer than 3 usable points after skipping ${settings.skipBegin} at the start and ${settings.skipEnd} at the end; widen the range or add --steps.`);
      return { ...result, runDir: session.runDir };
    }
    const lr = Number(result.suggestion.lr.toPrecision(3));
    const overrideFile = path.join(session.runDir, 'lr-suggestion.yaml');
    writeFileSync(overrideFile, `# Suggested by \`bt-platform tune lr\` (steepest descent of the smoothed loss).\noptimizer:\n  lr: ${lr}\n`);
    print(`suggested lr: ${lr}`);
    print(`override: ${overrideFile}  (or --set optimizer.lr=${lr})`);
    return { ...result, runDir: session.runDir, overrideFile };
  });
}

/** `tune batch-size`: powers of two until memory runs out or the budget is exceeded. */
export async function tuneBatchSize(options: Record<string, unknown>, ctx: CommandContext, print: Print = stdout): Promise<BatchSizeResult & { runDir: string; overrideFile?: string }> {
  const measure = (options.measure ?? 'tensors') as BatchSizeOptions['measure'];
  if (!['tensors', 'rss', 'both'].includes(measure)) throw new BtError('RUNTIME', `tune batch-size: --measure must be tensors, rss or both, got "${measure}".`, { exitCode: 2 });
  const settings = {
    start: positiveInt(options.start ?? 2, '--start'),
    maxSize: positiveInt(options.maxSize ?? 4096, '--max-size'),
    steps: positiveInt(options.steps ?? 2, '--steps'),
    maxMemory: options.maxMemory === undefined ? undefined : parseBytes(String(options.maxMemory)),
    measure,
  };
  return withSession(ctx, options, 'tune-batch-size', async (session) => {
    const configured = (session.config.optimizer as { lr?: number } | undefined)?.lr;
    const lr = options.lr !== undefined ? number(options.lr, '--lr') : (configured ?? 1e-3);
    print(`${'batch size'.padStart(10)} ${'peak tensors'.padStart(13)} ${'rss'.padStart(9)} ${'images/s'.padStart(9)}  status`);
    const result = await findBatchSize(session, { ...settings, lr }, (t) => {
      print(`${String(t.batchSize).padStart(10)} ${formatBytes(t.peakBytes).padStart(13)} ${formatBytes(t.rss).padStart(9)} ${(t.status.startsWith('failed') ? '-' : t.imagesPerSecond.toFixed(1)).padStart(9)}  ${t.status}`);
    });
    writeFileSync(path.join(session.runDir, 'batch-size.json'), `${JSON.stringify({ ...settings, lr, ...result }, null, 2)}\n`);
    if (result.best === undefined) {
      const parameters = (await session.get(Slots.task)).model.parameterCount();
      throw new BtError('RUNTIME', `tune batch-size: even batch size ${settings.start} does not fit (${result.stopped}).`, {
        hint:
          `The model alone is ${parameters >= 1e6 ? `${(parameters / 1e6).toFixed(1)} M` : parameters.toLocaleString('en-US')} parameters (${formatBytes(4 * parameters)}); a training step also holds their gradients and the optimizer's state, ` +
          'each as large again. Lower --start, raise --max-memory, or use a smaller model (e.g. task.projectorDim) or image size.',
      });
    }
    const overrideFile = path.join(session.runDir, 'batch-size.yaml');
    writeFileSync(overrideFile, `# Found by \`bt-platform tune batch-size\`: ${result.stopped}.\ndata:\n  batchSize: ${result.best}\n`);
    print(`largest batch size that fits: ${result.best} (${result.stopped})`);
    print(`override: ${overrideFile}  (or --set data.batchSize=${result.best})`);
    return { ...result, runDir: session.runDir, overrideFile };
  });
}

export const tuneLrCommand: CommandDefinition = {
  name: 'tune lr',
  description: 'learning-rate range test: exponential LR sweep on training batches, smoothed loss, suggestion at the steepest descent, plot and config override',
  options: [
    ...configOptions,
    { flags: '--min-lr <lr>', description: 'first learning rate', default: '1e-7' },
    { flags: '--max-lr <lr>', description: 'last learning rate', default: '1' },
    { flags: '--steps <n>', description: 'training steps (batches) of the sweep', default: '100' },
    { flags: '--diverge <factor>', description: 'stop once the smoothed loss exceeds this many times its best', default: '4' },
    { flags: '--skip-begin <n>', description: 'points left out at the start when picking the suggestion', default: '10' },
    { flags: '--skip-end <n>', description: 'points left out at the end when picking the suggestion', default: '1' },
  ],
  async run(_args, options, ctx) {
    await tuneLr(options, ctx);
  },
};

export const tuneBatchSizeCommand: CommandDefinition = {
  name: 'tune batch-size',
  description: 'grow the batch size in powers of two until a step runs out of memory or exceeds --max-memory; report images/s and keep the largest that fits',
  options: [
    ...configOptions,
    { flags: '--start <n>', description: 'first batch size', default: '2' },
    { flags: '--max-size <n>', description: 'largest batch size tried', default: '4096' },
    { flags: '--steps <n>', description: 'timed training steps per size (after one warm-up step)', default: '2' },
    { flags: '--max-memory <size>', description: 'memory budget, e.g. 2GB, 512MB' },
    { flags: '--measure <what>', description: 'compare the budget with: tensors (peak tensor bytes of a step), rss (process memory) or both', default: 'tensors' },
    { flags: '--lr <lr>', description: 'learning rate of the trial steps (default: the config\'s optimizer.lr)' },
  ],
  async run(_args, options, ctx) {
    await tuneBatchSize(options, ctx);
  },
};
