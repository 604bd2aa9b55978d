import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../runCli.js';

/**
 * The quickstart as shipped, with only its figures and reports left out (they change no number:
 * test/plugins/attention-maps/barlowTwinsRun.test.ts): every stage completes, both comparisons are
 * printed, and the Barlow Twins backbone wins both, as it does at every seed of docs/quickstart.md
 * ("Seeds": seeds 0–4, fine-tune gain +0.002 to +0.026, probe gain +0.013 to +0.063). Seed 0 is
 * asserted with margins below the smallest gain over those seeds. At a smaller scale (6 pre-training
 * epochs, 40 per segmentation stage) the fine-tune's gain is lost (0.230 against 0.238 at seed 0),
 * so the test pays for the full run (about 2 minutes).
 *
 * Run through the CLI: the data generator's pixel loops run many times slower inside jest's VM.
 */
const MARGIN = { finetune: 0, probe: 0.01 };

const SEGMENTATION_STAGES = ['finetune', 'scratch', 'probe', 'probe-scratch'];
// Only what the comparisons need: the pre-training checkpoint.
const NO_FIGURES = ['callbacks=[]', 'stages.pretrain.callbacks=[{use: checkpoint, monitor: val/loss, mode: min}]'];

const line = (first: string, second: string, values: Record<string, number>) => {
  const gain = values[first] - values[second];
  return `val/mIoU: ${first} ${values[first].toFixed(3)} vs ${second} ${values[second].toFixed(3)} (${gain >= 0 ? '+' : ''}${gain.toFixed(3)})`;
};

describe('configs/quickstart.yaml', () => {
  it('runs every stage, prints both comparisons, and the pre-trained backbone wins both', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bt-quickstart-'));
    const runs = path.join(dir, 'runs');
    const set = [`runDir=${JSON.stringify(runs)}`, `data.root=${JSON.stringify(path.join(dir, 'voc'))}`, ...NO_FIGURES].flatMap((o) => ['--set', o]);
    const result = await runCli(['run', '-c', path.resolve('configs/quickstart.yaml'), ...set], { cwd: dir });
    expect({ code: result.code, stderr: result.code === 0 ? '' : result.stderr }).toEqual({ code: 0, stderr: '' });

    const [pipeline] = readdirSync(runs);
    const summary = JSON.parse(readFileSync(path.join(runs, pipeline, 'summary.json'), 'utf8')) as {
      stages: Record<string, { status: string }>;
      compare: Array<{ metric: string; values: Record<string, number> }>;
    };
    expect(Object.entries(summary.stages).map(([name, s]) => [name, s.status])).toEqual(['pretrain', ...SEGMENTATION_STAGES].map((name) => [name, 'completed']));
    const [finetune, probe] = summary.compare;
    expect(result.stderr).toContain(line('finetune', 'scratch', finetune.values));
    expect(result.stderr).toContain(line('probe', 'probe-scratch', probe.values));
    expect(finetune.values.finetune - finetune.values.scratch).toBeGreaterThan(MARGIN.finetune);
    expect(probe.values.probe - probe.values['probe-scratch']).toBeGreaterThan(MARGIN.probe);
  }, 600_000);
});
