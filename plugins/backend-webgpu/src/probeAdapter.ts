import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { DAWN_PACKAGE } from './Dawn.js';

/** What a child process saw of the adapter Dawn would pick. */
export type AdapterProbe =
  | { kind: 'adapter'; info: Record<string, unknown> }
  | { kind: 'none' }
  | { kind: 'listFailed'; message: string }
  | { kind: 'loadFailed'; message: string };

// Run with `node --input-type=module -e`; argv: the binding's file URL, then the flags and the power preference as JSON.
const SCRIPT = `
const [url, flags, powerPreference] = [process.argv[1], ...process.argv.slice(2).map((a) => JSON.parse(a))];
const say = (result) => { process.stdout.write(JSON.stringify(result)); process.exit(0); };
let dawn;
try { dawn = await import(url); } catch (error) { say({ kind: 'loadFailed', message: String(error?.message ?? error) }); }
try {
  const adapter = await dawn.create(flags).requestAdapter({ powerPreference });
  if (!adapter) say({ kind: 'none' });
  const info = {};
  for (const key of ['vendor', 'architecture', 'device', 'description', 'isFallbackAdapter']) info[key] = adapter.info?.[key];
  info.isFallbackAdapter ??= adapter.isFallbackAdapter;
  say({ kind: 'adapter', info });
} catch (error) {
  say({ kind: 'listFailed', message: String(error?.message ?? error).split('\\n')[0] });
}
`;

/**
 * Asks a child process which adapter Dawn would pick. Listing the adapters makes some Vulkan
 * drivers print warnings on stderr from native code (lavapipe: "maxDynamicUniformBuffersPerPipelineLayout
 * artificially reduced …"), which no JavaScript can silence; `auto` probes this way so that a machine
 * whose only adapter is a software renderer, skipped anyway, shows none of it. Returns undefined when
 * the child itself could not run (the caller then asks in-process).
 */
export function probeAdapter(flags: readonly string[], powerPreference: string): AdapterProbe | undefined {
  let binding: string;
  try {
    binding = pathToFileURL(createRequire(import.meta.url).resolve(DAWN_PACKAGE)).href;
  } catch (error) {
    return { kind: 'loadFailed', message: (error as Error).message };
  }
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', SCRIPT, binding, JSON.stringify(flags), JSON.stringify(powerPreference)], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  try {
    return JSON.parse(child.stdout) as AdapterProbe;
  } catch {
    return undefined;
  }
}
