import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { describeCpu, isSecretName, REDACTED, redactText, writeFileAtomic } from '@bt-platform/sdk';

/** Written into the run directory at setup: the core records neither the command line nor the commit. */
export const RUN_INFO_FILE = 'run-info.json';

/** How a run was started and where: shown in the report's header. */
export interface RunInfo {
  command?: string;
  cwd?: string;
  gitCommit?: string;
  node?: string;
  os?: string;
  cpu?: string;
  memoryGiB?: number;
  startedAt?: string;
}

/** The commit checked out in `dir`, or undefined when it is not in a git work tree (or git is absent). */
export function gitCommit(dir: string): string | undefined {
  try {
    const out = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: dir, stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000, encoding: 'utf8' }).trim();
    return /^[0-9a-f]{7,64}$/.test(out) ? out : undefined;
  } catch {
    return undefined;
  }
}

function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** The command line as a user would retype it, credentials masked (`--set wandb.apiKey=…` included). */
export function commandLine(argv: readonly string[]): string {
  const script = argv[1] ?? '';
  const program = path.basename(script).startsWith('bt-platform') ? ['bt-platform'] : [path.basename(argv[0] ?? 'node'), script];
  const args = argv.slice(2).map((arg) => {
    const assignment = /^([\w.-]+)=/.exec(arg);
    return assignment && isSecretName(assignment[1].split('.').at(-1)!) ? `${assignment[1]}=${REDACTED}` : redactText(arg);
  });
  return [...program, ...args].map(quote).join(' ');
}

export function collectRunInfo(configDir: string, argv: readonly string[] = process.argv): RunInfo {
  return {
    command: commandLine(argv),
    cwd: process.cwd(),
    gitCommit: gitCommit(configDir),
    node: process.version,
    os: `${os.type()} ${os.release()} (${process.platform}-${process.arch})`,
    cpu: describeCpu(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    startedAt: new Date().toISOString(),
  };
}

export async function recordRunInfo(runDir: string, configDir: string): Promise<void> {
  await writeFileAtomic(path.join(runDir, RUN_INFO_FILE), `${JSON.stringify(collectRunInfo(configDir), null, 2)}\n`);
}
