import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';

/**
 * A third-party plugin outside the repository: examples/plugin-tiny-cnn copied to a temporary
 * folder with `@bt-platform/sdk` linked into its node_modules (what `npm install file:…/sdk` does),
 * then the quickstart pipeline run through the CLI with the example's backbone and logger.
 */
const repo = path.resolve('.');
const bin = path.join(repo, 'core/bin/bt-platform.js');

function runCli(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd, env: { ...process.env, NODE_OPTIONS: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

function outOfTreeCopy(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bt-third-party-'));
  const plugin = path.join(dir, 'plugin-tiny-cnn');
  cpSync(path.join(repo, 'examples/plugin-tiny-cnn'), plugin, { recursive: true, filter: (src) => !src.includes('node_modules') });
  mkdirSync(path.join(plugin, 'node_modules/@bt-platform'), { recursive: true });
  symlinkSync(path.join(repo, 'sdk'), path.join(plugin, 'node_modules/@bt-platform/sdk'), 'dir');
  return dir;
}

describe('examples/plugin-tiny-cnn outside the repository', () => {
  test('runs the quickstart pipeline with the tiny-cnn backbone and csv-metrics logger, with one copy of tfjs', async () => {
    const dir = outOfTreeCopy();
    expect(dir.startsWith(repo)).toBe(false);
    writeFileSync(
      path.join(dir, 'config.yaml'),
      [
        `extends: ${JSON.stringify(path.join(repo, 'configs/quickstart.yaml'))}`,
        'name: tiny-cnn-quickstart',
        'plugins: [./plugin-tiny-cnn]',
        'runDir: ./runs',
        'backend: { use: cpu }',
        'data:',
        '  root: ./voc-synth',
        '  generate: { images: 24, minSize: 24, maxSize: 32 }',
        '  imageSize: 16',
        '  batchSize: 8',
        'loggers: [{ use: csv-metrics }]',
        '',
      ].join('\n'),
    );
    const result = await runCli(
      [
        'run',
        '-c',
        'config.yaml',
        // The backbone is replaced on the command line: in the file, `extends` would merge the ViT's options into it.
        '--set',
        'model.backbone={use: tiny-cnn, featureDim: 16, stride: 4, width: 8}',
        '--set',
        'stages.0.trainer.maxEpochs=1',
        '--set',
        'stages.1.trainer.maxEpochs=1',
        '--set',
        'stages.0.data.batchSize=8',
        // attention-maps and the linear head need a ViT's attention and patch tokens.
        '--set',
        'stages.0.callbacks=[{use: checkpoint, monitor: val/loss, mode: min}]',
        '--set',
        'stages.1.model.head={use: setr-naive, numClasses: 21}',
      ],
      dir,
    );
    const report = `exit ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;
    expect({ code: result.code, report: result.code === 0 ? '' : report }).toEqual({ code: 0, report: '' });
    // A second tfjs would re-register every kernel, printing "kernel … is already registered".
    expect(result.stderr).not.toMatch(/already registered/);
    expect(result.stdout).not.toMatch(/already registered/);

    const [parent] = readdirSync(path.join(dir, 'runs'));
    for (const stage of ['pretrain', 'finetune']) {
      const runDir = path.join(dir, 'runs', parent, stage);
      const summary = JSON.parse(readFileSync(path.join(runDir, 'summary.json'), 'utf8')) as { status: string; steps: number };
      expect({ stage, status: summary.status }).toEqual({ stage, status: 'completed' });
      expect(summary.steps).toBeGreaterThan(0);
      const config = parseYaml(readFileSync(path.join(runDir, 'config.yaml'), 'utf8')) as { model: { backbone: Record<string, unknown> } };
      expect(config.model.backbone).toEqual({ use: 'tiny-cnn', featureDim: 16, stride: 4, width: 8 });
      expect(existsSync(path.join(runDir, 'metrics.csv'))).toBe(true);
      expect(readFileSync(path.join(runDir, 'metrics.csv'), 'utf8').split('\n')[0]).toMatch(/^step,epoch,/);
    }
    expect(result.stdout + result.stderr).toMatch(/Initialised the backbone from/);
  });
});
