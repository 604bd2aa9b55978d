/**
 * What Barlow Twins pre-training buys in the quickstart, and which pre-training recipe decorrelates:
 * each recipe (a list of `--set` overrides of configs/quickstart.yaml) is pre-trained and fine-tuned
 * once per seed, against the `scratch` stage (same fine-tune, random backbone) at each fine-tune
 * learning rate. Writes the table into docs/quickstart.md between its `sweep:<section>` markers.
 *
 *   npx tsx bench/quickstart-sweep.ts [--seeds 0,1,2] [--recipes a,b] [--scratch-lrs 3e-3,1e-2] [--backend native]
 *     [--probe] [--out FILE] [--section NAME] [--set key=value ...]
 *
 * With `--pipelines`, each seed runs the whole quickstart as shipped (every stage and callback) and
 * the table lists every stage's final val/mIoU and both gains (section `seeds` by default).
 *
 * With `--finetunes DIR` (a `runDir` that `--pipelines` filled, one pipeline per seed in seed
 * order), each fine-tune recipe of FINETUNES runs on those pipelines' pre-training checkpoints (the
 * `scratch-…` recipes on a random backbone) and the table compares it with their scratch stage, per
 * seed (section `finetunes`).
 *
 * Every run uses the quickstart's data set (generated on first use) and its fine-tune budget; only
 * the callbacks are trimmed (pre-training keeps its checkpoint), which changes no number.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, type RunResult } from '@bt-platform/core';
import { describeCpu } from '@bt-platform/sdk';

interface Recipe {
  name: string;
  /** What the recipe changes, for the table. */
  change: string;
  overrides: string[];
}

const P = 'stages.pretrain.';
/** The quickstart's recipe first; each other row changes one thing (or one coupled set) of it. */
const RECIPES: Recipe[] = [
  { name: 'quickstart', change: 'the quickstart as shipped', overrides: [] },
  { name: 'wide-projector', change: 'projector 256-d, wider than the batch of 64, λ 1/256', overrides: [`${P}task.projectorDim=256`, `${P}task.lambda=3.9e-3`] },
  {
    name: 'previous',
    change: "the previous quickstart's recipe: projector 64-d, batch 32, λ 1.5e-2, lr 2e-3, crops 0.3–1, the reference's colour jitter",
    overrides: [`${P}task.projectorDim=64`, `${P}task.lambda=1.5e-2`, `${P}data.batchSize=32`, `${P}optimizer.lr=2e-3`, `${P}data.augment={cropScale: [0.3, 1]}`],
  },
  { name: 'lambda-0.03', change: 'λ 0.03 (about 1/projector width)', overrides: [`${P}task.lambda=3e-2`] },
  { name: 'lambda-0.3', change: 'λ 0.3', overrides: [`${P}task.lambda=0.3`] },
  { name: 'lr-low', change: 'pre-training lr 1e-3', overrides: [`${P}optimizer.lr=1e-3`] },
  { name: 'crop-0.3', change: 'crops of 0.3–1 of the image', overrides: [`${P}data.augment.cropScale=[0.3, 1]`] },
  { name: 'colour-ref', change: "the reference's colour jitter: hue ±0.1, greyscale p 0.2", overrides: [`${P}data.augment.hueSaturation.hue=0.1`, `${P}data.augment.grayscale=0.2`] },
  { name: 'epochs-20', change: 'twice the pre-training epochs', overrides: [`${P}trainer.maxEpochs=20`] },
];

const F = 'stages.finetune.';
const S = 'stages.scratch.';
const backboneLr = (prefix: string, scale: number) => `${prefix}optimizer.groups=[{params: ["backbone.*"], lrScale: ${scale}}]`;
/**
 * Fine-tune variations on fixed pre-training checkpoints, against the pipelines' scratch stage. A
 * recipe with `stage: 'scratch'` varies the scratch stage instead (random backbone, no checkpoint).
 */
const FINETUNES: Array<Recipe & { stage?: 'scratch' }> = [
  { name: 'shipped', change: "as shipped (AdamW 1e-2, the backbone at the head's rate)", overrides: [] },
  { name: 'backbone-0.5', change: 'backbone lr × 0.5 (`optimizer.groups`)', overrides: [backboneLr(F, 0.5)] },
  { name: 'backbone-0.3', change: 'backbone lr × 0.3', overrides: [backboneLr(F, 0.3)] },
  { name: 'backbone-0.2', change: 'backbone lr × 0.2', overrides: [backboneLr(F, 0.2)] },
  { name: 'backbone-0.1', change: 'backbone lr × 0.1', overrides: [backboneLr(F, 0.1)] },
  { name: 'backbone-0.05', change: 'backbone lr × 0.05', overrides: [backboneLr(F, 0.05)] },
  { name: 'freeze-5', change: 'backbone frozen for 5 of 60 epochs (`task.freezeBackboneEpochs`)', overrides: [`${F}task.freezeBackboneEpochs=5`] },
  { name: 'freeze-20', change: 'backbone frozen for 20 of 60 epochs', overrides: [`${F}task.freezeBackboneEpochs=20`] },
  { name: 'warmup-5', change: 'warm-up 5 epochs instead of 1', overrides: [`${F}lrSchedule.warmupEpochs=5`] },
  { name: 'scratch-backbone-0.3', stage: 'scratch', change: '*scratch*, backbone lr × 0.3', overrides: [backboneLr(S, 0.3)] },
  { name: 'scratch-backbone-0.2', stage: 'scratch', change: '*scratch*, backbone lr × 0.2', overrides: [backboneLr(S, 0.2)] },
  { name: 'scratch-backbone-0.1', stage: 'scratch', change: '*scratch*, backbone lr × 0.1', overrides: [backboneLr(S, 0.1)] },
  { name: 'epochs-30', change: '30 epochs instead of 60', overrides: [`${F}trainer.maxEpochs=30`] },
  { name: 'scratch-epochs-30', stage: 'scratch', change: '*scratch*, 30 epochs instead of 60', overrides: [`${S}trainer.maxEpochs=30`] },
  { name: 'lr-3e-3', change: 'lr 3e-3 instead of 1e-2', overrides: [`${F}optimizer.lr=3e-3`] },
  { name: 'scratch-lr-3e-3', stage: 'scratch', change: '*scratch*, lr 3e-3 instead of 1e-2', overrides: [`${S}optimizer.lr=3e-3`] },
];

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.join(here, '..');
const configFile = path.join(repo, 'configs/quickstart.yaml');

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

const seeds = arg('seeds', '0,1,2').split(',').map(Number);
const wanted = arg('recipes', RECIPES.map((r) => r.name).join(',')).split(',');
const recipes = RECIPES.filter((r) => wanted.includes(r.name));
const scratchLrs = arg('scratch-lrs', '').split(',').filter(Boolean);
const backend = arg('backend', 'native');
const out = path.resolve(arg('out', path.join(repo, 'docs/quickstart.md')));
const section = arg('section', 'recipes');
/** Also a linear probe (the fine-tune with a frozen backbone) of each pre-trained and each random backbone. */
const probe = process.argv.includes('--probe');
const runsDir = mkdtempSync(path.join(os.tmpdir(), 'bt-quickstart-sweep-'));

const extra = process.argv.flatMap((a, i) => (a === '--set' && process.argv[i + 1] ? [process.argv[i + 1]] : []));
const common = [`backend.use=${backend}`, `runDir=${JSON.stringify(runsDir)}`, ...extra];

async function stage(name: string, overrides: string[]): Promise<RunResult> {
  const started = Date.now();
  const result = await run({ configFile, stage: name, quiet: true, overrides: [...common, ...overrides] });
  const shown = Object.entries(result.metrics).filter(([key]) => ['val/mIoU', 'val/diag_mean', 'val/offdiag_abs_mean'].includes(key));
  process.stderr.write(`  ${name} ${overrides.join(' ')}: ${((Date.now() - started) / 1000).toFixed(0)} s, ${shown.map(([k, v]) => `${k} ${v.toFixed(3)}`).join(', ')}\n`);
  if (result.status !== 'completed') throw new Error(`${name} ended ${result.status}: ${result.reason}`);
  return result;
}

/** Values of a metric at each validation, in order. */
function history(runDir: string, key: string): number[] {
  return readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => (JSON.parse(line) as { values: Record<string, number> }).values[key])
    .filter((v): v is number => v !== undefined);
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]) => (xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1)));
const f = (x: number, digits = 3) => x.toFixed(digits);
const signed = (x: number) => `${x >= 0 ? '+' : '−'}${f(Math.abs(x))}`;
const spread = (xs: number[]) => `${f(mean(xs))} ± ${f(sd(xs))} (${f(Math.min(...xs))}–${f(Math.max(...xs))})`;

interface Row {
  recipe: Recipe;
  diag: number[];
  offdiag: number[];
  offdiagTrend: number[];
  redundancyTrend: number[];
  mIoU: number[];
  gain: number[];
  /** Linear probe (frozen backbone) on the pre-trained backbone. */
  probe: number[];
  seconds: number[];
}

const started = Date.now();
const stamp = () =>
  `_Machine: ${describeCpu()}, load average ${os.loadavg()[0].toFixed(1)} at the end. Backend ${backend}. Command: \`npx tsx bench/quickstart-sweep.ts ${process.argv.slice(2).join(' ')}\`. Date: ${new Date().toISOString().slice(0, 10)}. Took ${f((Date.now() - started) / 60000, 0)} min._`;

function writeSection(name: string, table: string): void {
  process.stdout.write(`${table}\n`);
  const begin = `<!-- sweep:${name}:start -->`;
  const end = `<!-- sweep:${name}:end -->`;
  const doc = existsSync(out) ? readFileSync(out, 'utf8') : `${begin}\n${end}\n`;
  const pattern = new RegExp(`${begin}[\\s\\S]*?${end}`);
  writeFileSync(out, pattern.test(doc) ? doc.replace(pattern, `${begin}\n${table}\n${end}`) : `${doc.trimEnd()}\n\n${begin}\n${table}\n${end}\n`);
  process.stderr.write(`wrote ${out}\n`);
}

if (process.argv.includes('--pipelines')) {
  const STAGES = ['finetune', 'scratch', 'probe', 'probe-scratch'];
  const rows: number[][] = [];
  process.stderr.write(`pipelines in ${runsDir} (for --finetunes)\n`);
  for (const seed of seeds) {
    const t0 = Date.now();
    const result = await run({ configFile, quiet: true, overrides: [...common, `seed=${seed}`] });
    if (result.status !== 'completed') throw new Error(`seed ${seed} ended ${result.status}: ${result.reason}`);
    const mIoU = new Map((result.stages ?? []).map((s) => [path.basename(s.runDir), s.metrics['val/mIoU']]));
    rows.push(STAGES.map((name) => mIoU.get(name)!));
    process.stderr.write(`  seed ${seed}: ${((Date.now() - t0) / 1000).toFixed(0)} s, ${STAGES.map((name) => `${name} ${f(mIoU.get(name)!)}`).join(', ')}\n`);
  }
  const line = (label: string, [fine, scratch, probe, probeScratch]: number[]) =>
    `| ${label} | ${f(fine)} | ${f(scratch)} | ${signed(fine - scratch)} | ${f(probe)} | ${f(probeScratch)} | ${signed(probe - probeScratch)} |`;
  const means = STAGES.map((_, k) => mean(rows.map((r) => r[k])));
  const fineGains = rows.map((r) => r[0] - r[1]);
  const probeGains = rows.map((r) => r[2] - r[3]);
  writeSection(
    process.argv.includes('--section') ? section : 'seeds',
    [
      'Final val/mIoU of each stage, whole pipelines as shipped (`npx bt-platform run -c configs/quickstart.yaml --set seed=N`):',
      '',
      '| seed | finetune | scratch | gain | probe | probe-scratch | gain |',
      '| --- | --- | --- | --- | --- | --- | --- |',
      ...rows.map((r, i) => line(String(seeds[i]), r)),
      line('mean', means),
      '',
      `Gain of the fine-tune over scratch: ${spread(fineGains)}, ${fineGains.filter((g) => g > 0).length} of ${seeds.length} seeds positive; of the probe over the random probe: ${spread(probeGains)}, ${probeGains.filter((g) => g > 0).length} of ${seeds.length} positive.`,
      '',
      stamp(),
    ].join('\n'),
  );
  process.exit(0);
}

const finetunesFrom = arg('finetunes', '');
if (finetunesFrom) {
  const pipelines = readdirSync(finetunesFrom).sort().map((dir) => JSON.parse(readFileSync(path.join(finetunesFrom, dir, 'summary.json'), 'utf8')) as { stages: Record<string, { checkpoint: string; metrics: Record<string, number> }> });
  const scratchValues = pipelines.map((p) => p.stages.scratch.metrics['val/mIoU']);
  const wantedFinetunes = arg('recipes', FINETUNES.map((r) => r.name).join(',')).split(',');
  const selected = FINETUNES.filter((r) => wantedFinetunes.includes(r.name));
  const results = new Map<string, number[]>();
  for (const recipe of selected) {
    const name = recipe.stage ?? 'finetune';
    const values: number[] = [];
    for (const [seed, pipeline] of pipelines.entries()) {
      const initialisation = recipe.stage ? [] : [`${F}task.backboneCheckpoint=${JSON.stringify(pipeline.stages.pretrain.checkpoint)}`];
      values.push((await stage(name, [`seed=${seed}`, ...initialisation, `stages.${name}.callbacks=[]`, ...recipe.overrides])).metrics['val/mIoU']);
    }
    results.set(recipe.name, values);
  }
  const gainsOver = (values: number[], baseline: number[]) => {
    const gains = values.map((v, i) => v - baseline[i]);
    return `${gains.map(signed).join(' ')} (mean ${signed(mean(gains))}, ${gains.filter((g) => g > 0).length} of ${gains.length})`;
  };
  const lines = selected.map((recipe) => {
    const values = results.get(recipe.name)!;
    // A fine-tune recipe against scratch trained the same way: `scratch-<name>`, or the pipelines' own stage for the shipped one.
    const sameRecipeScratch = recipe.stage ? undefined : (results.get(`scratch-${recipe.name}`) ?? (recipe.name === 'shipped' ? scratchValues : undefined));
    return `| ${recipe.change} | ${values.map((v) => f(v)).join(' ')} | ${f(mean(values))} | ${gainsOver(values, scratchValues)} | ${sameRecipeScratch ? gainsOver(values, sameRecipeScratch) : '—'} |`;
  });
  writeSection(
    process.argv.includes('--section') ? section : 'finetunes',
    [
      `Scratch (its own recipe) per seed: ${scratchValues.map((v) => f(v)).join(', ')}.`,
      '',
      `| fine-tune recipe | seeds ${pipelines.map((_, i) => i).join(', ')} val/mIoU | mean | gain over the shipped scratch, per seed | gain over scratch with the same recipe, per seed |`,
      '| --- | --- | --- | --- | --- |',
      ...lines,
      '',
      stamp(),
    ].join('\n'),
  );
  process.exit(0);
}

const scratch = new Map<number, number>();
const scratchByLr = new Map<string, number[]>();
const randomProbe: number[] = [];
const frozen = (name: string) => [`stages.${name}.task.freezeBackbone=true`, `stages.${name}.callbacks=[]`];
for (const seed of seeds) {
  process.stderr.write(`seed ${seed}: scratch\n`);
  const result = await stage('scratch', [`seed=${seed}`, 'stages.scratch.callbacks=[]']);
  scratch.set(seed, result.metrics['val/mIoU']);
  if (probe) randomProbe.push((await stage('scratch', [`seed=${seed}`, ...frozen('scratch')])).metrics['val/mIoU']);
  for (const lr of scratchLrs) {
    const other = await stage('scratch', [`seed=${seed}`, 'stages.scratch.callbacks=[]', `stages.scratch.optimizer.lr=${lr}`]);
    scratchByLr.set(lr, [...(scratchByLr.get(lr) ?? []), other.metrics['val/mIoU']]);
  }
}

const rows: Row[] = [];
for (const recipe of recipes) {
  const row: Row = { recipe, diag: [], offdiag: [], offdiagTrend: [], redundancyTrend: [], mIoU: [], gain: [], probe: [], seconds: [] };
  for (const seed of seeds) {
    process.stderr.write(`seed ${seed}: ${recipe.name}\n`);
    const t0 = Date.now();
    const pre = await stage('pretrain', [`seed=${seed}`, 'stages.pretrain.callbacks=[{use: checkpoint, monitor: val/loss, mode: min}]', ...recipe.overrides]);
    row.seconds.push((Date.now() - t0) / 1000);
    const offdiag = history(pre.runDir, 'val/offdiag_abs_mean');
    const redundancy = history(pre.runDir, 'val/redundancy');
    row.diag.push(pre.metrics['val/diag_mean']);
    row.offdiag.push(pre.metrics['val/offdiag_abs_mean']);
    row.offdiagTrend.push(offdiag.at(-1)! - Math.max(...offdiag));
    row.redundancyTrend.push(redundancy.at(-1)! - Math.max(...redundancy));
    const fromCheckpoint = `stages.finetune.task.backboneCheckpoint=${JSON.stringify(String(pre.summary.checkpoint))}`;
    const fine = await stage('finetune', [`seed=${seed}`, fromCheckpoint, 'stages.finetune.callbacks=[]']);
    row.mIoU.push(fine.metrics['val/mIoU']);
    row.gain.push(fine.metrics['val/mIoU'] - scratch.get(seed)!);
    if (probe) row.probe.push((await stage('finetune', [`seed=${seed}`, fromCheckpoint, ...frozen('finetune')])).metrics['val/mIoU']);
  }
  rows.push(row);
}

const table = [
  `Seeds ${seeds.join(', ')} (the run's \`seed\`: initialisation, batch order, augmentations; the data set is the same). Scratch (no pre-training): val/mIoU ${spread([...scratch.values()])}.`,
  ...[...scratchByLr].map(([lr, values]) => `Scratch with fine-tune lr ${lr}: ${spread(values)}.`),
  ...(probe ? [`Linear probe of a random backbone (frozen): ${spread(randomProbe)}.`] : []),
  '',
  `| recipe | change from the quickstart | pre-train s | val diag mean | val \\|off-diag\\| mean | \\|off-diag\\| end − peak | fine-tuned val/mIoU | gain over scratch (per seed) |${probe ? ' linear probe val/mIoU |' : ''}`,
  `| --- | --- | --- | --- | --- | --- | --- | --- |${probe ? ' --- |' : ''}`,
  ...rows.map((r) =>
    [
      r.recipe.name,
      r.recipe.change,
      f(mean(r.seconds), 0),
      f(mean(r.diag)),
      f(mean(r.offdiag)),
      f(mean(r.offdiagTrend)),
      spread(r.mIoU),
      `${r.gain.map((g) => (g >= 0 ? '+' : '') + f(g)).join(', ')}`,
      ...(probe ? [spread(r.probe)] : []),
    ].join(' | ').replace(/^/, '| ').replace(/$/, ' |'),
  ),
  '',
  stamp(),
].join('\n');
writeSection(section, table);
process.exit(0);
