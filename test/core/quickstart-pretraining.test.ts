import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../runCli.js';

/**
 * The quickstart as shipped, with only its figures and reports left out (they change no number:
 * test/plugins/attention-maps/barlowTwinsRun.test.ts): every stage completes, both comparisons are
 * printed, and the frozen Barlow Twins backbone gives the head better features than a frozen random
 * one. docs/quickstart.md ("Seeds"): that gain is +0.022 to +0.067 over seeds 0–9 on native (+0.023
 * to +0.069 on another CPU) and +0.044 to +0.066 over seeds 0–4 on wasm, so it is asserted with a
 * 0.02 margin. The full fine-tune's gain is not asserted: it is level with scratch on average and
 * changes sign from seed to seed (−0.043 to +0.038 over seeds 0–9 on native, 6 of 10 positive).
 *
 * Run through the CLI: the data generator's pixel loops run many times slower inside jest's VM.
 */
const MARGIN = 0.02;

const SEGMENTATION_STAGES = ['finetune', 'scratch', 'probe', 'probe-scratch'];
// Only what the comparisons need: the pre-training checkpoint.
const NO_FIGURES = ['callbacks=[]', 'stages.pretrain.callbacks=[{use: checkpoint, monitor: val/loss, mode: min}]'];

const line = (first: string, second: string, values: Record<string, number>) => {
  const gain = values[first] - values[second];
  return `val/mIoU: ${first} ${values[first].toFixed(3)} vs ${second} ${values[second].toFixed(3)} (${gain >= 0 ? '+' : ''}${gain.toFixed(3)})`;
};

describe('configs/quickstart.yaml', () => {
  it('runs every stage, prints both comparisons, and the frozen pre-trained features beat random ones', async () => {
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
    expect(probe.values.probe - probe.values['probe-scratch']).toBeGreaterThan(MARGIN);
  }, 600_000);
});
