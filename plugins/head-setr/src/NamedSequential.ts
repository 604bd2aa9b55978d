import type * as tf from '@tensorflow/tfjs';
import { Module } from '@bt-platform/sdk';

/** Applies named children in order, like an nn.Sequential built with add_module (names stay in the state dict). */
export class NamedSequential extends Module {
  private readonly order: Module[] = [];

  constructor(entries: Array<[string, Module]>) {
    super();
    for (const [name, module] of entries) this.order.push(this.registerModule(name, module));
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return this.order.reduce((h, m) => m.call(h) as tf.Tensor4D, x);
  }
}
