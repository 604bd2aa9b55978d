import { definePlugin, Slots } from '@bt-platform/sdk';
import { downloadCommand, synthCommand } from './DataCommands.js';
import { VocDataModule } from './VocDataModule.js';
import { vocOptions } from './VocOptions.js';

export { IMAGENET_NORMALIZATION, VOC_CLASSES, VOC_CLASS_COLOURS, VOC_IGNORE_INDEX, VOC_NUM_CLASSES, VOC_PALETTE } from './VocClasses.js';
export { VocDataModule, type VocContext } from './VocDataModule.js';
export { vocOptions, type VocOptions } from './VocOptions.js';
export { renderSyntheticSample, synthDifference, synthesizeVoc } from './VocSynth.js';
export { downloadVoc, VOC_TRAINVAL_MD5, VOC_TRAINVAL_URL } from './VocDownload.js';

const PLUGIN_NAME = 'datamodule-voc';

/** The batch entries of each `mode`. */
const MODE_YIELDS = { 'barlow-twins': ['view1', 'view2'], segmentation: ['image', 'mask'] };
const MODE_ALTERNATIVES = Object.entries(MODE_YIELDS).map(([mode, yields]) => ({ set: { mode }, yields }));

/** The PASCAL VOC 2012 datamodule (`data: { use: voc }`) and the `data synth` / `data download voc` commands. */
export default definePlugin({
  name: PLUGIN_NAME,
  version: '0.1.0',
  description: 'PASCAL VOC 2012 reader with Barlow Twins and segmentation augmentations, a prefetching loader and a VOC-format data generator.',
  register(registrar) {
    registrar.component(Slots.datamodule, {
      name: 'voc',
      description: 'PASCAL VOC 2012 (VOCdevkit layout): two augmented views per image (barlow-twins) or image + mask (segmentation).',
      options: vocOptions,
      declares: (options) => ({ yields: MODE_YIELDS[options.mode], alternatives: MODE_ALTERNATIVES }),
      create: (options, ctx) => new VocDataModule(options, ctx),
    });
  },
  commands: [synthCommand, downloadCommand],
});
