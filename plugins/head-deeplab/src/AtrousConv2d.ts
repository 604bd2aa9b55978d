import * as tf from '@tensorflow/tfjs';
import { Conv2d } from '@bt-platform/sdk/nn';

/** A kernel tap that reaches the input: its position, its input offset and the output region it writes. */
interface Tap {
  i: number;
  j: number;
  dy: number;
  dx: number;
  rows: readonly [number, number];
  cols: readonly [number, number];
}

/**
 * An ASPP branch's dilated convolution (stride 1), computed as one product of the input with
 * every kernel tap that can reach it, each tap's result shifted into place and summed, with a
 * gradient written out the same way. The SDK's space-to-batch form pads the map to a multiple of
 * the rate on every side: at rate 24 on DeepLabV3's 28×28 map that is a 96×96 map, a 1.1 GB tensor
 * for 16 images of 2048 channels. This form keeps only the input for the backward pass and holds
 * about the input's size in the products of the taps. Same weights and names as Conv2d.
 */
export class AtrousConv2d extends Conv2d {
  override forward(x: tf.Tensor4D): tf.Tensor4D {
    if (this.dilation === 1) return super.forward(x);
    return tf.tidy(() => {
      const y = atrous(this.taps(x.shape), this.kernel, this.outChannels)(x, this.weight) as tf.Tensor4D;
      return (this.bias ? tf.add(y, this.bias) : y) as tf.Tensor4D;
    });
  }

  private taps([, h, w]: number[]): { taps: Tap[]; hOut: number; wOut: number } {
    const { kernel: k, dilation: d, padding: p } = this;
    const hOut = h + 2 * p - d * (k - 1);
    const wOut = w + 2 * p - d * (k - 1);
    // Output (r, c) reads input (r + dy, c + dx); the tap writes where that lies inside the input.
    const span = (offset: number, size: number, out: number) => [Math.max(0, -offset), Math.min(out, size - offset)] as const;
    const taps: Tap[] = [];
    for (let i = 0; i < k; i++) {
      for (let j = 0; j < k; j++) {
        const [dy, dx] = [i * d - p, j * d - p];
        const rows = span(dy, h, hOut);
        const cols = span(dx, w, wOut);
        if (rows[1] > rows[0] && cols[1] > cols[0]) taps.push({ i, j, dy, dx, rows, cols });
      }
    }
    return { taps, hOut, wOut };
  }
}

function atrous({ taps, hOut, wOut }: { taps: Tap[]; hOut: number; wOut: number }, k: number, cout: number) {
  return tf.customGrad(((x: tf.Tensor4D, weight: tf.Tensor4D, save: tf.GradSaveFunc) => {
    const [b, h, w, cin] = x.shape;
    save([x, weight]);
    const tapWeights = (kernel: tf.Tensor4D) => tf.concat(taps.map(({ i, j }) => tf.reshape(tf.slice(kernel, [i, j, 0, 0], [1, 1, cin, cout]), [cin, cout])), 1);
    const value = tf.tidy(() => {
      const products = tf.reshape(tf.matMul(tf.reshape(x, [b * h * w, cin]), tapWeights(weight)), [b, h, w, taps.length * cout]);
      const parts = taps.map(({ dy, dx, rows: [r0, r1], cols: [c0, c1] }, t) => {
        const part = tf.slice(products, [0, r0 + dy, c0 + dx, t * cout], [b, r1 - r0, c1 - c0, cout]);
        return tf.pad(part, [[0, 0], [r0, hOut - r1], [c0, wOut - c1], [0, 0]]);
      });
      return tf.addN(parts);
    });
    return {
      value,
      gradFunc: (dOut: tf.Tensor, saved: tf.Tensor[]) => {
        const [input, kernel] = saved as [tf.Tensor4D, tf.Tensor4D];
        return tf.tidy(() => {
          // Each tap's output gradient, moved back to the input positions it read.
          const shifted = tf.concat(
            taps.map(({ dy, dx, rows: [r0, r1], cols: [c0, c1] }) => {
              const part = tf.slice(dOut, [0, r0, c0, 0], [b, r1 - r0, c1 - c0, cout]);
              return tf.pad(part, [[0, 0], [r0 + dy, h - r1 - dy], [c0 + dx, w - c1 - dx], [0, 0]]);
            }),
            3,
          );
          const flat = tf.reshape(shifted, [b * h * w, taps.length * cout]);
          const dInput = tf.reshape(tf.matMul(flat, tapWeights(kernel), false, true), input.shape);
          const dTaps = tf.matMul(tf.reshape(input, [b * h * w, cin]), flat, true, false);
          const byPosition = new Map(taps.map((tap, t) => [tap.i * k + tap.j, t]));
          const dKernel = tf.reshape(
            tf.stack(Array.from({ length: k * k }, (_, position) => {
              const t = byPosition.get(position);
              return t === undefined ? tf.zeros([cin, cout]) : tf.slice(dTaps, [0, t * cout], [cin, cout]);
            })),
            [k, k, cin, cout],
          );
          return [dInput, dKernel];
        });
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
}
