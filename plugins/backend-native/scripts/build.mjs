// Builds the optional native addon (node-gyp + OpenBLAS). Never fails the install: on any problem it
// records why in build/status.json, which the backend reports when it falls back to wasm.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const statusFile = path.join(root, 'build', 'status.json');

function finish(ok, reason) {
  // A stale addon from an earlier build must not be loaded when this build is disabled or failed.
  if (!ok) rmSync(path.join(root, 'build', 'Release', 'bt_native.node'), { force: true });
  mkdirSync(path.dirname(statusFile), { recursive: true });
  writeFileSync(statusFile, JSON.stringify({ ok, reason, date: new Date().toISOString() }, null, 2));
  console.log(ok ? '[backend-native] addon built' : `[backend-native] addon not built (${reason}); the "native" backend will fall back to wasm`);
  process.exit(0);
}

function findNodeGyp() {
  const candidates = [process.env.npm_config_node_gyp];
  try {
    candidates.push(createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js'));
  } catch {}
  if (process.env.npm_execpath) candidates.push(path.join(path.dirname(path.dirname(process.env.npm_execpath)), 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  const npmRoot = spawnSync('npm', ['root', '-g'], { encoding: 'utf8' }).stdout?.trim();
  if (npmRoot) candidates.push(path.join(npmRoot, 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  return candidates.find((c) => c && existsSync(c));
}

try {
  main();
} catch (error) {
  finish(false, `build script error: ${error?.message ?? error}`);
}

function main() {
if (process.env.BT_NATIVE === '0') finish(false, 'disabled by BT_NATIVE=0');
const blas = spawnSync('pkg-config', ['--exists', 'openblas']);
if (blas.error || blas.status !== 0) finish(false, 'OpenBLAS not found by pkg-config (Debian/Ubuntu: apt-get install libopenblas-dev pkg-config)');
const nodeGyp = findNodeGyp();
if (!nodeGyp) finish(false, 'node-gyp not found (it ships with npm)');
const args = [nodeGyp, 'rebuild'];
const nodedir = process.env.npm_config_nodedir;
if (!nodedir && existsSync('/usr/include/node/node_api.h')) args.push('--nodedir=/usr');
const started = Date.now();
const build = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', env: process.env });
if (build.status !== 0) {
  const log = `${build.stdout ?? ''}\n${build.stderr ?? ''}`;
  const line = log.split('\n').find((l) => /error|not found|ERR!/i.test(l)) ?? `node-gyp exited with ${build.status}`;
  mkdirSync(path.join(root, 'build'), { recursive: true });
  writeFileSync(path.join(root, 'build', 'build.log'), log);
  finish(false, `compilation failed: ${line.trim()} (full log: plugins/backend-native/build/build.log)`);
}
finish(true, `built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
