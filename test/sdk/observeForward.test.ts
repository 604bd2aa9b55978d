import * as tf from '@tensorflow/tfjs';
import { Module } from '@bt-platform/sdk';

class Double extends Module {
  forward(x: tf.Tensor): tf.Tensor {
    return tf.mul(x, 2);
  }
}

describe('Module.observeForward', () => {
  it('listens until untapped, then the hook is unused again; other taps stay', () => {
    const module = new Double();
    const seen: string[] = [];
    const keep = module.observeForward('kept', () => seen.push('kept'));
    const untap = module.observeForward('passing', () => seen.push('passing'));
    tf.tidy(() => module.call(tf.scalar(1)));
    untap();
    untap();
    tf.tidy(() => module.call(tf.scalar(1)));
    expect(seen).toEqual(['kept', 'passing', 'kept']);
    keep();
    expect(module.forwardHook.isUsed()).toBe(false);
    tf.tidy(() => module.call(tf.scalar(1)));
    expect(seen).toHaveLength(3);
  });
});
