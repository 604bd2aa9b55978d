/** Child process for loader.test.ts: takes one batch, then neither closes the stream nor tears down. */
import { Rng } from '@bt-platform/sdk';
import { VocDataModule, vocOptions } from '@bt-platform/plugin-datamodule-voc';

const root = process.argv[2];
const log = { debug() {}, info() {}, warn() {}, error() {} };
const dm = new VocDataModule(vocOptions.parse({ root, workers: 2, imageSize: 16, batchSize: 2, prefetch: 3 }), { rng: new Rng(1), log, resolvePath: (p) => p });
await dm.setup('fit');
const first = await dm.trainBatches(0)[Symbol.asyncIterator]().next();
console.log(`batch ${Object.keys(first.value).join(',')}`);
