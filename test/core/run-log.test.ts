import { existsSync } from 'node:fs';
import { RunLog } from '../../core/src/log.js';

describe('RunLog', () => {
  it('keeps logging to the console when log.txt cannot be written, and says why once', () => {
    if (!existsSync('/dev/full')) return;
    const lines: string[] = [];
    const log = new RunLog('info', (line) => lines.push(line));
    log.attachFile('/dev/full');
    log.info('first');
    log.info('second');
    expect(lines[0]).toBe('first');
    const warnings = lines.filter((l) => l.startsWith('warn: cannot write the log file /dev/full'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('the disk is full');
    expect(lines.at(-1)).toBe('second');
  });
});
