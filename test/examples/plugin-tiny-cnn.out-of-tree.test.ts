import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { runCli } from '../runCli.js';

/**
 * A third-party plugin outside the repository: examples/plugin-tiny-cnn copied to a temporary
 * folder with `@bt-platform/sdk` linked into its node_modules (what `npm install file:…/sdk` does),
 * next to a copy of configs/, then its quickstart-tiny-cnn.yaml run through the CLI. That file
 * swaps the backbone into the quickstart pipeline by `extends` alone; the command line only makes
 * the run small.
 */
const repo = path.resolve('.');
const exampleConfig = 'examples/plugin-tiny-cnn/quickstart-tiny-cnn.yaml';


/** The repository's layout (configs/, examples/plugin-tiny-cnn) in a temporary folder, without its node_modules. */
function outOfTreeCopy(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bt-third-party-'));
  const plugin = path.join(dir, 'examples/plugin-tiny-cnn');
  cpSync(path.join(repo, 'configs'), path.join(dir, 'configs'), { recursive: true });
  cpSync(path.join(repo, 'examples/plugin-tiny-cnn'), plugin, { recursive: true, filter: (src) => !src.includes('node_modules') });
  mkdirSync(path.join(plugin, 'node_modules/@bt-platform'), { recursive: true });
  symlinkSync(path.join(repo, 'sdk'), path.join(plugin, 'node_modules/@bt-platform/sdk'), 'dir');
  return dir;
}

const yamlOf = (file: string) => parseYaml(readFileSync(file, 'utf8')) as Record<string, any>;

describe('examples/plugin-tiny-cnn outside the repository', () => {
  test('quickstart-tiny-cnn.yaml runs every stage of the quickstart with the tiny-cnn backbone and csv-metrics logger, with one copy of tfjs', async () => {
    const dir = outOfTreeCopy();
    expect(dir.startsWith(repo)).toBe(false);
    const result = await runCli(
      [
        'run',
        '-c',
        exampleConfig,
        // Size only: every stage, fewer and smaller images, one epoch.
        '--set',
        'trainer.maxEpochs=1',
        '--set',
        'data.generate={$replace: true, images: 32, minSize: 24, maxSize: 32}',
        '--set',
        'data.batchSize=8',
        '--set',
        'data.valBatchSize=8',
      ],
      { cwd: dir },
    );
    const report = `exit ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;
    expect({ code: result.code, report: result.code === 0 ? '' : report }).toEqual({ code: 0, report: '' });
    // A second tfjs would re-register every kernel, printing "kernel … is already registered".
    expect(result.stderr).not.toMatch(/already registered/);
    expect(result.stdout).not.toMatch(/already registered/);

    const example = yamlOf(path.join(repo, exampleConfig));
    const backbone = example.model.backbone;
    expect(backbone.use).toBe('tiny-cnn');
    const heads = Object.fromEntries((example.stages as Array<{ name: string; model?: { head?: unknown } }>).map((s) => [s.name, s.model?.head]));
    // configDir points at configs/, so the quickstart's runDir (../runs) holds the run.
    const [parent] = readdirSync(path.join(dir, 'runs'));
    const stages = (yamlOf(path.join(repo, 'configs/quickstart.yaml')).stages as Array<{ name: string }>).map((s) => s.name);
    expect(stages.length).toBeGreaterThan(1);
    expect(readdirSync(path.join(dir, 'runs', parent)).filter((f) => stages.includes(f)).sort()).toEqual([...stages].sort());
    for (const stage of stages) {
      const runDir = path.join(dir, 'runs', parent, stage);
      const summary = JSON.parse(readFileSync(path.join(runDir, 'summary.json'), 'utf8')) as { status: string; steps: number };
      expect({ stage, status: summary.status }).toEqual({ stage, status: 'completed' });
      expect(summary.steps).toBeGreaterThan(0);
      const config = yamlOf(path.join(runDir, 'config.yaml'));
      expect({ stage, backbone: config.model.backbone }).toMatchObject({ stage, backbone });
      if (heads[stage]) expect({ stage, head: config.model.head }).toMatchObject({ stage, head: heads[stage] });
      expect(existsSync(path.join(runDir, 'metrics.csv'))).toBe(true);
      expect(readFileSync(path.join(runDir, 'metrics.csv'), 'utf8').split('\n')[0]).toMatch(/^step,epoch,/);
    }
    expect(result.stdout + result.stderr).toMatch(/Initialised the backbone from/);
  });
});
