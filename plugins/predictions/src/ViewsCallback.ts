import { BtError, Slots, Stage, type Batch, type Callback, type DataModule, type HookView, type RunContext } from '@bt-platform/sdk';
import { DrawSchedule, Figure, GridLayout, imageRasters } from '@bt-platform/sdk/draw';

export interface ViewsOptions {
  images: number;
  everyNEpochs: number;
  stages: Array<'train' | 'val'>;
  keys: [string, string];
  minPanelSize: number;
}

const NAME = 'augmented-views';
const LABEL_WIDTH = 70;

/** Draws the two augmented views Barlow Twins compares, for the first images of a stage's first batch. */
export class ViewsCallback implements Callback {
  private datamodule: DataModule | undefined;
  private readonly schedule: DrawSchedule;
  readonly latest: Partial<Record<'train' | 'val', string>> = {};

  constructor(
    private readonly options: ViewsOptions,
    private readonly ctx: RunContext,
  ) {
    this.schedule = new DrawSchedule(options.everyNEpochs);
  }

  apply(hooks: HookView): void {
    const tap = { name: NAME, stage: Stage.visualisation };
    this.schedule.apply(hooks, NAME);
    const wants = (stage: 'train' | 'val', epoch: number, batchIdx: number) =>
      this.options.stages.includes(stage) && batchIdx === 0 && this.schedule.due(epoch);
    hooks.setup.tapPromise(tap, async (event) => {
      this.datamodule = event.datamodule;
    });
    hooks.trainBatchEnd.tapPromise(tap, async (event) => {
      if (wants('train', event.epoch, event.batchIdx)) await this.draw('train', event.epoch, event.batch);
    });
    hooks.validationBatchEnd.tapPromise(tap, async (event) => {
      if (event.stage === 'val' && wants('val', event.epoch, event.batchIdx)) await this.draw('val', event.epoch, event.batch);
    });
  }

  async draw(stage: 'train' | 'val', epoch: number, batch: Batch): Promise<void> {
    const views = this.options.keys.map((k) => batch[k]);
    if (views.some((v) => !v || v.rank !== 4)) {
      throw new BtError('RUNTIME', `augmented-views: the ${stage} batch has no views "${this.options.keys.join('", "')}" [B,H,W,3] (batch: ${Object.keys(batch).join(', ')}).`, {
        hint: 'Use this callback with the Barlow Twins task, or set `keys` to the batch entries holding the two views.',
      });
    }
    this.datamodule ??= await this.ctx.get(Slots.datamodule);
    const rows = views.map((v) => imageRasters(v, this.options.images, this.datamodule?.normalization));
    const { width, height } = rows[0][0];
    const scale = GridLayout.scaleFor(height, width, this.options.minPanelSize);
    const grid = new GridLayout(2, rows[0].length, width * scale, height * scale, { left: LABEL_WIDTH });
    const figure = new Figure(grid.width, grid.height);
    figure.text(`Augmented views (${stage}), epoch ${epoch}`, grid.left, grid.top - 9, { size: 14, weight: 'bold', maxWidth: grid.width - grid.left });
    rows.forEach((row, r) => {
      figure.text(`view ${r + 1}`, 8, grid.cell(r, 0).top + grid.panelHeight / 2 + 5, { size: 13 });
      row.forEach((raster, c) => {
        const { left, top } = grid.cell(r, c);
        figure.image(raster, left, top, grid.panelWidth, grid.panelHeight, true);
      });
    });
    const key = `views/${stage}`;
    const path = this.ctx.mediaPath(key, 'png');
    await figure.toFile(path);
    this.latest[stage] = path;
    await this.ctx.logMedia({ key, path, caption: `${stage} augmented views, epoch ${epoch}: each column is one image, rows are its two views` });
  }
}
