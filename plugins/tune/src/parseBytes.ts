import { BtError } from '@bt-platform/sdk';

const UNITS: Record<string, number> = { b: 1, kb: 1024, kib: 1024, k: 1024, mb: 1024 ** 2, mib: 1024 ** 2, m: 1024 ** 2, gb: 1024 ** 3, gib: 1024 ** 3, g: 1024 ** 3 };

/** `2GB`, `512MB`, `300KB`, `1048576` → bytes (units are powers of 1024, as memory is counted). */
export function parseBytes(text: string, flag = '--max-memory'): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = match ? UNITS[(match[2] || 'b').toLowerCase()] : undefined;
  if (!match || !unit) {
    throw new BtError('RUNTIME', `${flag}: cannot read "${text}" as an amount of memory.`, { hint: `Write a number with a unit, e.g. ${flag} 2GB, 512MB or 300KB.`, exitCode: 2 });
  }
  return Math.round(Number(match[1]) * unit);
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let i = 0;
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024;
    i++;
  }
  return `${value.toFixed(i === 0 ? 0 : 1)}${units[i]}`;
}
