import * as tf from '@tensorflow/tfjs';
import { BtError, type Batch, type DataModule } from '@bt-platform/sdk';

/**
 * Training batches for tuning, read from the datamodule epoch after epoch. `next(n)` makes a batch of
 * exactly `n` samples by concatenating (and cutting) the datamodule's own batches, so batch sizes
 * can be tried without rebuilding the datamodule.
 */
export class BatchSource {
  private epoch = 0;
  private iterator?: AsyncIterator<Batch>;
  private close?: () => Promise<void>;
  private leftover?: Batch;

  constructor(private readonly datamodule: DataModule) {}

  /** The datamodule's next training batch, whatever its size. */
  async nextBatch(): Promise<Batch> {
    if (this.leftover) {
      const batch = this.leftover;
      this.leftover = undefined;
      return batch;
    }
    for (let attempt = 0; attempt < 2; attempt++) {
      if (!this.iterator) {
        const stream = this.datamodule.trainBatches(this.epoch++);
        this.iterator = stream[Symbol.asyncIterator]();
        this.close = stream.close?.bind(stream);
      }
      const { value, done } = await this.iterator.next();
      if (!done) return value;
      await this.dispose();
    }
    throw new BtError('DATA_MISSING', 'The datamodule yields no training batches.', { hint: 'Check the training split (and that data.batchSize is not larger than it with dropLast).', exitCode: 2 });
  }

  /** A batch of exactly `size` samples. */
  async next(size: number): Promise<Batch> {
    const parts: Batch[] = [];
    let have = 0;
    while (have < size) {
      const batch = await this.nextBatch();
      parts.push(batch);
      have += rows(batch);
    }
    if (parts.length === 1 && have === size) return parts[0];
    const keys = Object.keys(parts[0]);
    const joined: Batch = {};
    const extra = have - size;
    for (const key of keys) {
      const all = tf.concat(parts.map((p) => p[key]));
      joined[key] = extra ? all.slice(0, size) : all;
      if (extra) {
        this.leftover ??= {};
        this.leftover[key] = all.slice(size);
        all.dispose();
      }
    }
    for (const p of parts) tf.dispose(Object.values(p));
    return joined;
  }

  async dispose(): Promise<void> {
    if (this.leftover) tf.dispose(Object.values(this.leftover));
    this.leftover = undefined;
    await this.iterator?.return?.();
    await this.close?.();
    this.iterator = undefined;
    this.close = undefined;
  }
}

function rows(batch: Batch): number {
  const first = Object.values(batch)[0];
  return first ? first.shape[0] : 0;
}
