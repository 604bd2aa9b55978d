import { existsSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, ensureWeights, KNOWN_WEIGHTS, weightsSettings, weightsSource, type CommandDefinition } from '@bt-platform/sdk';

type Print = (line: string) => void;
const stdout: Print = (line) => process.stdout.write(`${line}\n`);

/** `bt-platform weights list`: the known names, what they fit, and which are cached. */
export function listCommand(print: Print = stdout): CommandDefinition {
  return {
    name: 'weights list',
    description: 'List the pretrained weights known by name, the backbone each fits, and which are in the cache.',
    async run(_args, _options, ctx) {
      const settings = weightsSettings();
      const width = Math.max(...KNOWN_WEIGHTS.map((k) => k.name.length));
      print(`Known weights (use as \`weights: <name>\` on a backbone), cache ${settings.cacheDir}${settings.offline ? ' (offline mode: cache only)' : ''}:`);
      for (const known of KNOWN_WEIGHTS) {
        const source = weightsSource(known.name, { resolvePath: (p) => path.resolve(ctx.cwd, p), settings });
        const cached = source.kind === 'remote' && existsSync(source.file) ? '  [cached]' : '';
        print(`  ${known.name.padEnd(width)}  ${known.description}; ${known.source}; backbone ${known.backbone}${cached}`);
      }
      print('Other forms: hf:<owner>/<repo>[@<revision>][/<file>], an http(s) URL of a .safetensors file, or a path.');
    },
  };
}

/** `bt-platform weights download <name...>`: fills the cache ahead of a run (e.g. before going offline). */
export function downloadCommand(print: Print = stdout): CommandDefinition {
  return {
    name: 'weights download',
    description: 'Download weights by known name, hf:<owner>/<repo> or URL into the cache (resumable, checksum-verified); prints the cached file.',
    args: '<names...>',
    options: [{ flags: '--force', description: 'download again even if the cache holds the file', default: false }],
    async run(args, options, ctx) {
      const settings = weightsSettings();
      for (const spec of args) {
        const source = weightsSource(spec, { resolvePath: (p) => path.resolve(ctx.cwd, p), settings, option: 'weights download' });
        if (source.kind !== 'remote') {
          throw new ConfigError('CONFIG_INVALID', `weights download: "${spec}" is a local path; there is nothing to download.`, {
            hint: 'Give a known name (`npx bt-platform weights list`), hf:<owner>/<repo> or an http(s) URL.',
          });
        }
        const result = await ensureWeights(source, { settings, log: ctx.log, force: options.force === true });
        print(result.file);
      }
    },
  };
}
