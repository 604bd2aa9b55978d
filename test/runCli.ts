import { spawn } from 'node:child_process';
import path from 'node:path';

/** The CLI of this checkout (jest runs from the repository root). */
export const cliBin = path.resolve('core/bin/bt-platform.js');

/**
 * Runs `bt-platform <args>` in its own Node process, as a user's shell would (jest's
 * `--experimental-vm-modules` is not passed on), and collects its output.
 */
export function runCli(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliBin, ...args], { cwd: options.cwd, env: { ...process.env, NODE_OPTIONS: '', ...options.env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
