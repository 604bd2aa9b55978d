import path from 'node:path';
import { writeCheckpoint } from '@bt-platform/sdk';

/** A checkpoint of the toy model (4 features, 8 hidden units) whose trainer state was edited to epoch -5. */
export default async function setup(dir: string): Promise<void> {
  const zeros = (...shape: number[]) => ({ dtype: 'float32' as const, shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });
  await writeCheckpoint(path.join(dir, '../../../.tmp-runs/cases/resume-tampered-state.safetensors'), {
    format: 'bt-platform/1',
    trainer: { epoch: -5, batchInEpoch: 0, globalStep: 2, seed: 0, rng: [1, 2, 3, 4] },
    tensors: { 'model.fc1.weight': zeros(8, 4), 'model.fc1.bias': zeros(8), 'model.fc2.weight': zeros(1, 8), 'model.fc2.bias': zeros(1) },
    plugins: {},
    metrics: {},
  });
}
