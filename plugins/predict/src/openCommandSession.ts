import { BtError, type CommandContext, type RunSession } from '@bt-platform/sdk';

/**
 * Opens a session and explains the one failure commands meet with pipeline configs: a stage that
 * refers to an earlier stage's output (`${stages.pretrain.checkpoint}`), which only `run` resolves.
 */
export async function openCommandSession(ctx: CommandContext, options: Parameters<CommandContext['openSession']>[0], command: string, hint: string): Promise<RunSession> {
  try {
    return await ctx.openSession(options);
  } catch (error) {
    const ref = /\$\{stages\.[\w.-]+\}/.exec((error as Error)?.message ?? '')?.[0];
    if (!ref) throw error;
    throw new BtError('CONFIG_INVALID', `${command}: the config refers to an earlier pipeline stage's output, ${ref}, which only \`bt-platform run\` resolves.`, {
      hint,
      cause: error,
      exitCode: 2,
    });
  }
}
