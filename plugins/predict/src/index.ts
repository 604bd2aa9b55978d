import { definePlugin } from '@bt-platform/sdk';
import { predictCommand } from './predictCommand.js';

export { predict, type ImagePrediction, type PredictOptions, type PredictResult } from './predict.js';
export { collectInputs } from './collectInputs.js';
export { loadImage } from './loadImage.js';
export { MaskWriter, vocColourMap } from './MaskWriter.js';
export { resizeNearest } from './resizeNearest.js';
export { writeNpy } from './writeNpy.js';

export default definePlugin({
  name: 'predict',
  description: 'The `predict` command: segmentation masks or backbone embeddings for a trained checkpoint on arbitrary images.',
  commands: [predictCommand],
});
