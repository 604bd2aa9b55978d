/**
 * `npm run bench [name...]`: runs bench/<name>.bench.ts (all by default) one after another and
 * writes each one's markdown section into BENCHMARKS.md, stamped with the machine, the command
 * and the date. Sections of benchmarks not run are kept as they were.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describeCpu } from '@bt-platform/sdk';

const here = path.dirname(fileURLToPath(import.meta.url));
const target = path.join(here, '..', 'BENCHMARKS.md');
const wanted = process.argv.slice(2);
const names = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .map((f) => f.replace(/\.bench\.ts$/, ''))
  .filter((n) => wanted.length === 0 || wanted.includes(n))
  .sort();

function machine(): string {
  return `${describeCpu()}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${os.platform()} ${os.release()}, Node.js ${process.version}`;
}

let doc = existsSync(target)
  ? readFileSync(target, 'utf8')
  : '# Benchmarks\n\nProduced by `npm run bench` (one section per `bench/*.bench.ts`; `npm run bench -- NAME` reruns one).\nNumbers are from the machine named in each section; rerun on yours to compare.\n';

// Settings that change what a benchmark measures (steps, models, timeouts) belong in its stamp.
const settings = Object.entries(process.env)
  .filter(([key]) => key.startsWith('BENCH_'))
  .map(([key, value]) => `${key}=${value} `)
  .join('');

for (const name of names) {
  process.stderr.write(`bench ${name}…\n`);
  const started = Date.now();
  const module = (await import(pathToFileURL(path.join(here, `${name}.bench.ts`)).href)) as { default: () => Promise<string> };
  const body = await module.default();
  const stamp = `_Machine: ${machine()}. Command: \`${settings}npm run bench -- ${name}\`. Date: ${new Date().toISOString().slice(0, 10)}. Took ${((Date.now() - started) / 1000).toFixed(0)} s._`;
  const section = `<!-- bench:${name}:start -->\n${body.trim()}\n\n${stamp}\n<!-- bench:${name}:end -->`;
  const pattern = new RegExp(`<!-- bench:${name}:start -->[\\s\\S]*?<!-- bench:${name}:end -->`);
  doc = pattern.test(doc) ? doc.replace(pattern, section) : `${doc.trimEnd()}\n\n${section}\n`;
  writeFileSync(target, doc);
}
process.stderr.write(`wrote ${target}\n`);
process.exit(0);
