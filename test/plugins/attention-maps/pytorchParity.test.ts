import { readFileSync } from 'node:fs';
import { dinoThreshold } from '../../../plugins/attention-maps/src/dinoThreshold.js';

interface Encoded {
  shape: number[];
  data: number[];
}
const fixture = JSON.parse(readFileSync(new URL('../../fixtures/callbacks/callbacks.json', import.meta.url), 'utf8')) as {
  attention: { attention: Encoded; threshold: number; masks: Encoded };
};

describe('attention thresholding against PyTorch', () => {
  it('attention thresholding matches DINO\'s code', () => {
    const { attention, threshold, masks } = fixture.attention;
    const [heads, patches] = attention.shape;
    for (let h = 0; h < heads; h++) {
      const row = attention.data.slice(h * patches, (h + 1) * patches);
      expect([...dinoThreshold(row, threshold)]).toEqual(masks.data.slice(h * patches, (h + 1) * patches));
    }
  });
});
