#!/usr/bin/env node
// Runs the TypeScript sources through tsx so that configs, plugins and the platform itself need no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli.ts');
const code = await main(process.argv.slice(2));
// Exit explicitly: a plugin's leftover handle (a socket, a worker) must not keep a finished run alive.
process.stdout.write('', () => process.exit(code));
