import { ConfigError, z, type LrSchedule, type ScheduleContext } from '@bt-platform/sdk';

export const stepScheduleOptions = z.strictObject({
  /** Multiply the LR by `gamma` every `stepSize` epochs (or steps, with `interval: step`)… */
  stepSize: z.number().int().positive().optional(),
  /** …or at each of these epochs (steps). */
  milestones: z.array(z.number().int().nonnegative()).optional(),
  gamma: z.number().positive().default(0.1),
  interval: z.enum(['step', 'epoch']).default('epoch'),
});

export type StepScheduleOptions = z.output<typeof stepScheduleOptions>;

/** Step decay as torch's StepLR (`stepSize`) or MultiStepLR (`milestones`). */
export class StepSchedule implements LrSchedule {
  constructor(private readonly options: StepScheduleOptions) {
    if ((options.stepSize === undefined) === (options.milestones === undefined)) {
      throw new ConfigError('CONFIG_INVALID', 'lrSchedule "step" needs exactly one of `stepSize` and `milestones`.', {
        hint: 'For example `lrSchedule: { use: step, stepSize: 30, gamma: 0.1 }` or `{ use: step, milestones: [30, 60] }`.',
      });
    }
  }

  lr(baseLr: number, at: ScheduleContext): number {
    const position = this.options.interval === 'epoch' ? at.epoch : at.step;
    const decays =
      this.options.stepSize !== undefined
        ? Math.floor(position / this.options.stepSize)
        : this.options.milestones!.filter((m) => m <= position).length;
    return baseLr * this.options.gamma ** decays;
  }
}
