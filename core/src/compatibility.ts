import {
  ConfigError,
  Slots,
  z,
  type AnyDeclaration,
  type AnySlot,
  type BackboneDeclaration,
  type BackboneOutputs,
  type BackendDeclaration,
  type CallbackDeclaration,
  type DataModuleDeclaration,
  type HeadDeclaration,
  type HeadNeeds,
  type MetricRead,
  type RunStage,
  type SlotKey,
  type TaskDeclaration,
} from '@bt-platform/sdk';
import { closest } from './config/format.js';
import type { RegisteredComponent } from './registry.js';
import type { ResolvedRun, Selection } from './resolve.js';

/** One problem found before running: `error`s stop the run, `warning`s are reported. */
export interface Finding {
  severity: 'error' | 'warning';
  message: string;
}

/** A selected component and what it declares (undefined: it declares nothing). */
interface Declared<D> {
  at: string;
  name: string;
  declaration?: D;
}

export function declarationOf(component: RegisteredComponent, options: Record<string, unknown>): AnyDeclaration | undefined {
  const declares = component.definition.declares as AnyDeclaration | ((o: Record<string, unknown>) => AnyDeclaration) | undefined;
  return typeof declares === 'function' ? declares(options) : declares;
}

/** What a registered component declares with its default options (for listing alternatives), if they parse. */
export function defaultDeclaration<D>(component: RegisteredComponent): D | undefined {
  const parsed = (component.definition.options ?? z.strictObject({})).safeParse({});
  if (!parsed.success) return undefined;
  try {
    return declarationOf(component, parsed.data as Record<string, unknown>) as D | undefined;
  } catch {
    return undefined;
  }
}

const list = (names: readonly string[]) => names.join(', ');
const orList = (names: readonly string[]) => (names.length <= 1 ? names.join('') : `${names.slice(0, -1).join(', ')} or ${names.at(-1)}`);

/** The tokens and maps a backbone gives, in words. */
function describeOutputs(o: BackboneOutputs): string {
  const what = o.tokens && o.featureMap ? 'transformer tokens and a feature map' : o.tokens ? 'transformer tokens only' : o.featureMap ? 'a feature map only' : 'neither tokens nor a feature map';
  const details = [o.stride !== undefined ? `stride ${o.stride}` : undefined, `${o.intermediates || 'no'} intermediate map${o.intermediates === 1 ? '' : 's'}`].filter(Boolean);
  return `${what} (${details.join(', ')})`;
}

/** Why a backbone's outputs do not meet a head's needs, or undefined when they do. */
function unmetNeed(needs: HeadNeeds, o: BackboneOutputs): string | undefined {
  if (needs.tokens && !o.tokens) return 'needs transformer tokens';
  if (needs.featureMap && !o.featureMap) return 'needs a feature map';
  if (needs.intermediates !== undefined && o.intermediates !== needs.intermediates) return `needs exactly ${needs.intermediates} intermediate feature maps`;
  if (needs.strides && o.stride !== undefined && !needs.strides.includes(o.stride)) return `needs a backbone stride of ${orList(needs.strides.map(String))}`;
  return undefined;
}

/** Whether two metric names, either of which may hold `*` for one name part (`val/IoU/*`), can be the same. */
function sameMetric(a: string, b: string): boolean {
  const as = a.split('/');
  const bs = b.split('/');
  return as.length === bs.length && as.every((part, i) => part === '*' || bs[i] === '*' || part === bs[i]);
}

/** Metric names the trainer publishes at the end of a training epoch and of a validation, from the task's declaration. */
function epochMetrics(task: TaskDeclaration): Record<'trainEpoch' | 'validation', string[]> {
  return {
    trainEpoch: ['train/loss_epoch', ...(task.epochMetrics?.train ?? []).map((m) => `train/${m}`)],
    validation: ['val/loss', ...(task.logs ?? []).map((m) => `val/${m}`), ...(task.epochMetrics?.val ?? []).map((m) => `val/${m}`)],
  };
}

/**
 * Checks that the selected components fit together, from what they declare: head and backbone,
 * task and datamodule batches, what callbacks need from the model, the task and the data, the
 * metric names they read, the slots a run needs and whether the backend can load here. Each
 * finding names the keys involved and the fix.
 */
export class Compatibility {
  private readonly findings: Finding[] = [];
  /** Slots already reported missing, so a slot two components need is reported once. */
  private readonly reportedMissing = new Set<AnySlot>();

  constructor(
    private readonly resolved: ResolvedRun,
    private readonly command: RunStage,
  ) {}

  check(): Finding[] {
    this.checkRequiredSlots();
    this.checkBackend();
    const backbone = this.one<BackboneDeclaration>(Slots.backbone);
    const task = this.one<TaskDeclaration>(Slots.task);
    const data = this.one<DataModuleDeclaration>(Slots.datamodule);
    this.checkTaskSlots(task);
    this.checkJointPass(task, backbone);
    this.checkHead(backbone);
    this.checkBatches(task, data);
    for (const callback of this.all<CallbackDeclaration>(Slots.callback)) this.checkCallback(callback, backbone, task, data);
    return this.findings;
  }

  private error(message: string): void {
    this.findings.push({ severity: 'error', message });
  }

  private selections(slot: AnySlot): Selection[] {
    return this.resolved.selections.get(slot) ?? [];
  }

  private all<D>(slot: AnySlot): Array<Declared<D>> {
    return this.selections(slot).map(({ at, component, options }) => {
      const name = component.definition.name;
      try {
        return { at, name, declaration: declarationOf(component, options) as D | undefined };
      } catch (error) {
        const message = error instanceof ConfigError ? `${error.message}${error.hint ? ` Fix: ${error.hint}` : ''}` : `${at}.use: ${name} could not say what it needs: ${(error as Error).message}`;
        this.error(message);
        return { at, name };
      }
    });
  }

  private one<D>(slot: AnySlot): Declared<D> | undefined {
    return this.all<D>(slot)[0];
  }

  /** Registered names of a slot whose default declaration passes `fits`. */
  private registered<D>(slot: AnySlot, fits: (d: D) => boolean): string[] {
    return this.resolved.registry
      .all()
      .filter((c) => c.slot === slot)
      .filter((c) => {
        const d = defaultDeclaration<D>(c);
        return d !== undefined && fits(d);
      })
      .map((c) => c.definition.name)
      .sort();
  }

  private missing(slot: AnySlot, why: string): void {
    if (this.reportedMissing.has(slot)) return;
    this.reportedMissing.add(slot);
    const names = this.resolved.registry.names(slot);
    const key = slot.configPath.split('.').at(-1)!;
    const under = slot.configPath.includes('.') ? ` under ${slot.configPath.split('.')[0]}` : '';
    this.error(`${slot.configPath}: missing; ${why}. Fix: add \`${key}: { use: <name> }\`${under}; registered ${slot.key} names: ${list(names) || 'none (is the plugin that provides one listed in `plugins`?)'}.`);
  }

  /** A run needs data and a task, and training needs an optimizer. */
  private checkRequiredSlots(): void {
    if (!this.selections(Slots.datamodule).length) this.missing(Slots.datamodule, 'a run needs a datamodule to read batches from');
    if (!this.selections(Slots.task).length) this.missing(Slots.task, 'a run needs a task (the model, its loss and metrics)');
    if (this.command === 'fit' && !this.selections(Slots.optimizer).length) this.missing(Slots.optimizer, 'training needs an optimizer');
  }

  /** A task that runs several inputs through the backbone as one batch needs one without batch statistics. */
  private checkJointPass(task: Declared<TaskDeclaration> | undefined, backbone: Declared<BackboneDeclaration> | undefined): void {
    const joint = task?.declaration?.jointBackbonePass;
    if (!joint || !backbone?.declaration?.provides.batchStatistics) return;
    const without = this.registered<BackboneDeclaration>(Slots.backbone, (d) => !d.provides.batchStatistics);
    this.error(
      `${task!.at}.${joint.option}: ${joint.value} runs several inputs through the backbone as one batch, but ${backbone.at}.use: ${backbone.name} normalises with batch statistics (BatchNorm), so each would be normalised with the others'. ` +
        `Fix: set ${task!.at}.${joint.option} to another value (\`auto\` picks what the backbone allows), or use a backbone without batch statistics${without.length ? ` (${list(without)})` : ''}.`,
    );
  }

  private checkBackend(): void {
    const backend = this.one<BackendDeclaration>(Slots.backend);
    const unavailable = backend?.declaration?.unavailable;
    // A warning: the config may be meant for another machine, and the backend itself fails clearly when created.
    if (unavailable) this.findings.push({ severity: 'warning', message: `${backend.at}.use: ${backend.name} cannot load on this machine: ${unavailable.reason}. Fix: ${unavailable.fix}` });
  }

  private checkTaskSlots(task: Declared<TaskDeclaration> | undefined): void {
    for (const key of task?.declaration?.uses ?? []) {
      const slot = Slots[key as SlotKey] as AnySlot;
      if (!this.selections(slot).length) this.missing(slot, `${task!.at}.use: ${task!.name} needs one`);
    }
  }

  private checkHead(backbone: Declared<BackboneDeclaration> | undefined): void {
    const head = this.one<HeadDeclaration>(Slots.head);
    const needs = head?.declaration?.needs;
    const provides = backbone?.declaration?.provides;
    if (!head || !needs || !provides) return;
    const unmet = unmetNeed(needs, provides);
    if (!unmet) return;
    const heads = this.registered<HeadDeclaration>(Slots.head, (d) => !unmetNeed(d.needs, provides));
    const backbones = this.registered<BackboneDeclaration>(Slots.backbone, (d) => !unmetNeed(needs, d.provides));
    const fixes = [
      heads.length ? `a head that takes what ${backbone!.name} gives (${list(heads)})` : undefined,
      backbones.length ? `a backbone that ${head.name} can use (${list(backbones)})` : undefined,
    ].filter(Boolean);
    const optionFix = needs.intermediates !== undefined && provides.tokens && unmet.includes('intermediate') ? `, or give ${backbone!.at} ${needs.intermediates} block indices in \`outIndices\`` : '';
    this.error(
      `${head.at}.use: ${head.name} ${unmet}, but ${backbone!.at}.use: ${backbone!.name} gives ${describeOutputs(provides)}. Fix: use ${fixes.join(', or ') || 'another head'}${optionFix}.`,
    );
  }

  private checkBatches(task: Declared<TaskDeclaration> | undefined, data: Declared<DataModuleDeclaration> | undefined): void {
    const needed = task?.declaration?.batch;
    const yields = data?.declaration?.yields;
    if (!needed || !yields) return;
    const absent = needed.filter((key) => !yields.includes(key));
    if (!absent.length) return;
    const setting = data!.declaration!.alternatives?.find((alt) => needed.every((key) => alt.yields.includes(key)));
    const fix = setting
      ? `set ${Object.entries(setting.set).map(([k, v]) => `${data!.at}.${k}: ${String(v)}`).join(', ')}`
      : `use a datamodule that yields ${list(needed)}${this.datamodulesYielding(needed)}`;
    this.error(`${task!.at}.use: ${task!.name} needs batches with ${list(needed)}, but ${data!.at}.use: ${data!.name}${this.optionsShown(data!)} yields ${list(yields)}. Fix: ${fix}.`);
  }

  private datamodulesYielding(keys: readonly string[]): string {
    const names = this.registered<DataModuleDeclaration>(Slots.datamodule, (d) => [d.yields, ...(d.alternatives ?? []).map((a) => a.yields)].some((y) => keys.every((k) => y.includes(k))));
    return names.length ? ` (${list(names)})` : '';
  }

  /** The options a datamodule's alternatives vary, as they are now, e.g. ` (mode: segmentation)`. */
  private optionsShown(data: Declared<DataModuleDeclaration>): string {
    const keys = [...new Set((data.declaration?.alternatives ?? []).flatMap((alt) => Object.keys(alt.set)))];
    const options = this.selections(Slots.datamodule)[0]?.options ?? {};
    const shown = keys.filter((k) => options[k] !== undefined).map((k) => `${k}: ${String(options[k])}`);
    return shown.length ? ` (${shown.join(', ')})` : '';
  }

  private checkCallback(
    callback: Declared<CallbackDeclaration>,
    backbone: Declared<BackboneDeclaration> | undefined,
    task: Declared<TaskDeclaration> | undefined,
    data: Declared<DataModuleDeclaration> | undefined,
  ): void {
    const needs = callback.declaration?.needs;
    const who = `${callback.at}.use: ${callback.name}`;
    const remove = `or remove ${callback.at}`;
    for (const key of needs?.slots ?? []) {
      const slot = Slots[key as SlotKey] as AnySlot;
      // A slot the task needs too is reported once, above.
      if (!this.selections(slot).length && !this.reportedMissing.has(slot)) {
        const builder = task?.declaration && !task.declaration.uses?.includes(key) ? ` (${task.at}.use: ${task.name} builds its model without one)` : '';
        this.error(`${who} needs ${slot.configPath}, but none is selected${builder}. Fix: select one (${list(this.resolved.registry.names(slot)) || 'none registered'}), ${remove}.`);
      }
    }
    const provides = backbone?.declaration?.provides;
    if (needs?.backbone && provides) {
      const wants = needs.backbone;
      const lacking = (o: BackboneOutputs) => (wants.attention && !o.attention ? 'self-attention' : wants.tokens && !o.tokens ? 'transformer tokens' : wants.featureMap && !o.featureMap ? 'a feature map' : undefined);
      const lack = lacking(provides);
      if (lack) {
        const backbones = this.registered<BackboneDeclaration>(Slots.backbone, (d) => !lacking(d.provides));
        this.error(`${who} needs a backbone with ${lack}, but ${backbone!.at}.use: ${backbone!.name} has none: it gives ${describeOutputs(provides)}. Fix: use ${backbones.length ? `a backbone with ${lack} (${list(backbones)})` : 'another backbone'}, ${remove}.`);
      }
    }
    const outputs = task?.declaration?.outputs;
    for (const key of needs?.outputs ?? []) {
      if (!outputs || outputs.includes(key)) continue;
      const tasks = this.registered<TaskDeclaration>(Slots.task, (d) => (d.outputs ?? []).includes(key));
      this.error(`${who} reads the task output "${key}", but ${task!.at}.use: ${task!.name} outputs ${list(outputs) || 'nothing'}. Fix: use a task that outputs it${tasks.length ? ` (${list(tasks)})` : ''}, ${remove}.`);
    }
    const yields = data?.declaration?.yields;
    for (const alternatives of needs?.batch ?? []) {
      if (!yields || alternatives.some((key) => yields.includes(key))) continue;
      this.error(`${who} reads ${orList(alternatives.map((k) => `"${k}"`))} from each batch, but ${data!.at}.use: ${data!.name}${this.optionsShown(data!)} yields ${list(yields)}. Fix: use data that yields ${orList([...alternatives])}, ${remove}.`);
    }
    if (task?.declaration) for (const read of callback.declaration?.reads ?? []) this.checkRead(callback, read, task);
  }

  /** A metric a callback reads must be one the trainer publishes when the callback reads it. */
  private checkRead(callback: Declared<CallbackDeclaration>, read: MetricRead, task: Declared<TaskDeclaration>): void {
    const published = epochMetrics(task.declaration!);
    const names = read.at === 'epoch' ? [...published.trainEpoch, ...published.validation] : published[read.at];
    const publishedNow = (metric: string) => names.some((name) => sameMetric(name, metric));
    if (publishedNow(read.metric) || (read.alternatives ?? []).some(publishedNow)) return;
    const when = read.at === 'validation' ? 'at the end of each validation' : read.at === 'trainEpoch' ? 'at the end of each training epoch' : 'at the end of each epoch';
    const guess = closest(read.metric, names.filter((n) => !n.includes('*')));
    const otherTime = read.at !== 'epoch' && [...published.trainEpoch, ...published.validation].some((name) => sameMetric(name, read.metric));
    const perStep = !otherTime && read.metric.startsWith('train/') && [...(task.declaration!.logs ?? []), 'loss'].some((m) => `train/${m}` === read.metric);
    const why = otherTime ? ' (it is published at another time)' : perStep ? ' (it is logged per step; epochs have train/loss_epoch)' : '';
    this.findings.push({
      severity: read.severity ?? 'error',
      message:
        `${callback.at}.${read.option}: ${callback.name} reads "${read.metric}" ${when}, but ${task.at}.use: ${task.name} does not log it then${why}. ` +
        `Fix: use ${guess ? `"${guess}" or ` : ''}one of ${list(names)}.`,
    });
  }
}
