import { ConfigError, MODEL_PREFIX, readCheckpoint, tensorsWithPrefix, type Backbone, type LoadReport, type Log } from '@bt-platform/sdk';

const BACKBONE_PREFIX = `${MODEL_PREFIX}backbone.`;

function list(names: string[], max = 6): string {
  return names.slice(0, max).join(', ') + (names.length > max ? `, … (${names.length} in all)` : '');
}

/**
 * Initialises `backbone` from the `model.backbone.*` tensors of a bt-platform checkpoint (a Barlow
 * Twins run's; the projector is dropped). Missing and unexpected keys are reported; a checkpoint
 * with no backbone tensors, with none that fit, or with shape mismatches is a config error.
 */
export async function loadBackboneCheckpoint(backbone: Backbone, file: string, log: Log, option = 'task.backboneCheckpoint'): Promise<LoadReport> {
  const state = await readCheckpoint(file);
  const tensors = tensorsWithPrefix(state, BACKBONE_PREFIX);
  const available = Object.keys(state.tensors).filter((n) => n.startsWith(MODEL_PREFIX));
  if (Object.keys(tensors).length === 0) {
    throw new ConfigError('CHECKPOINT_MISMATCH', `${option}: ${file} holds no backbone weights (no tensors named ${BACKBONE_PREFIX}*); its model tensors are: ${list(available) || 'none'}.`, {
      hint: 'Point it at a checkpoint of a Barlow Twins run (its checkpoints/ folder), whose model has a `backbone`.',
    });
  }
  const report = backbone.loadStateDict(tensors, { strict: false, source: file });
  if (report.loaded.length === 0 || report.mismatched.length > 0) {
    const details = [
      report.mismatched.length ? `shape mismatches: ${list(report.mismatched.map((m) => `${m.name} expected [${m.expected}] got [${m.got}]`), 4)}` : '',
      report.loaded.length === 0 ? `none of its ${Object.keys(tensors).length} backbone tensors (${list(Object.keys(tensors), 4)}) has a name this backbone uses (${list(report.missing, 4)})` : '',
    ].filter(Boolean);
    throw new ConfigError('WEIGHTS_MISMATCH', `${option}: the backbone in ${file} does not match the configured backbone: ${details.join('; ')}.`, {
      hint: 'Use the same `model.backbone` (name and options such as variant, patch size, image size) as the pre-training run, or a checkpoint pre-trained with this backbone.',
    });
  }
  const dropped = available.length - Object.keys(tensors).length;
  log.info(`Initialised the backbone from ${file}: ${report.loaded.length} tensors loaded, ${dropped} non-backbone tensors (projector) dropped.`);
  if (report.missing.length) log.warn(`Backbone tensors not in ${file} (kept at their initial values): ${list(report.missing)}.`);
  if (report.unexpected.length) log.warn(`Tensors in ${file} the backbone does not use (ignored): ${list(report.unexpected)}.`);
  return report;
}
