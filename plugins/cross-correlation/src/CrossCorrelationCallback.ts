import { BtError, Stage, type Callback, type HookView, type NamedTensors, type RunContext } from '@bt-platform/sdk';
import { ColorMap, DrawSchedule } from '@bt-platform/sdk/draw';
import { CrossCorrelationFigure } from './CrossCorrelationFigure.js';
import { RunningMean } from './RunningMean.js';

export interface CrossCorrelationOptions {
  everyNEpochs: number;
  stages: Array<'train' | 'val'>;
  colormap: string;
  range: [number, number];
  size: number;
  outputKey: string;
}

const NAME = 'cross-correlation';

/**
 * Averages the Barlow Twins cross-correlation matrix over each epoch's steps (train and val
 * separately) and draws the mean as a heatmap: 1 on the diagonal is what training aims for.
 */
export class CrossCorrelationCallback implements Callback {
  private readonly means = { train: new RunningMean(), val: new RunningMean() };
  private readonly active = { train: false, val: false };
  private readonly figure: CrossCorrelationFigure;
  private readonly schedule: DrawSchedule;
  /** The last mean drawn per stage (for checks). */
  readonly latest: Partial<
    Record<'train' | 'val', { values: Float32Array; shape: number[]; count: number; block: number; diagonal: number; offDiagonal: number; title: string; subtitle: string; path: string }>
  > = {};

  constructor(
    private readonly options: CrossCorrelationOptions,
    private readonly ctx: RunContext,
  ) {
    this.figure = new CrossCorrelationFigure(new ColorMap(options.colormap), options.range, options.size);
    this.schedule = new DrawSchedule(options.everyNEpochs);
  }

  apply(hooks: HookView): void {
    const tap = { name: NAME, stage: Stage.visualisation };
    this.schedule.apply(hooks, NAME);
    if (this.options.stages.includes('train')) {
      hooks.trainEpochStart.tapPromise(tap, async (event) => {
        this.means.train.reset();
        this.active.train = this.schedule.due(event.epoch);
      });
      hooks.trainBatchEnd.tapPromise(tap, async (event) => {
        if (this.active.train) this.means.train.add(this.matrix(event.outputs, 'train'));
      });
      hooks.trainEpochEnd.tapPromise(tap, async (event) => {
        if (this.active.train) await this.draw('train', event.epoch);
        this.active.train = false;
      });
    }
    if (this.options.stages.includes('val')) {
      hooks.validationStart.tapPromise(tap, async (event) => {
        this.means.val.reset();
        this.active.val = event.stage === 'val' && this.schedule.due(event.epoch);
      });
      hooks.validationBatchEnd.tapPromise(tap, async (event) => {
        if (this.active.val) this.means.val.add(this.matrix(event.outputs, 'val'));
      });
      hooks.validationEnd.tapPromise(tap, async (event) => {
        if (this.active.val) await this.draw('val', event.epoch);
        this.active.val = false;
      });
    }
    hooks.teardown.tapPromise(tap, async () => {
      this.means.train.reset();
      this.means.val.reset();
    });
  }

  private matrix(outputs: NamedTensors, stage: string) {
    const matrix = outputs[this.options.outputKey];
    if (!matrix || matrix.rank !== 2 || matrix.shape[0] !== matrix.shape[1]) {
      throw new BtError('RUNTIME', `cross-correlation: the task's ${stage} step outputs no square "${this.options.outputKey}" matrix (outputs: ${Object.keys(outputs).join(', ') || 'none'}).`, {
        hint: 'Use this callback with the barlow-twins task, or set `outputKey` to the output that holds the cross-correlation matrix.',
      });
    }
    return matrix;
  }

  private async draw(stage: 'train' | 'val', epoch: number): Promise<void> {
    const mean = this.means[stage].take(this.options.size);
    if (!mean) return;
    const key = `cross_correlation/${stage}`;
    const path = this.ctx.mediaPath(key, 'png');
    const blocks = mean.block > 1 ? `; each cell averages ${mean.block}×${mean.block} entries` : '';
    const stats = `mean diagonal ${mean.diagonal.toFixed(3)}, mean |off-diagonal| ${mean.offDiagonal.toFixed(3)}`;
    const caption = `${stage} cross-correlation, epoch ${epoch}, mean of ${mean.count} steps${blocks}; ${stats}`;
    const title = `Cross-correlation (${stage}), epoch ${epoch}`;
    await this.figure.draw(mean.values, mean.shape[0], title, stats, path);
    this.latest[stage] = { ...mean, title, subtitle: stats, path };
    await this.ctx.logMedia({ key, path, caption });
  }
}
