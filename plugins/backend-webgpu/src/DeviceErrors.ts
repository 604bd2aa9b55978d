import { BtError } from '@bt-platform/sdk';

interface GpuErrorLike {
  constructor: { name: string };
  message: string;
}

interface ErrorSource {
  onuncapturederror: ((event: { error: GpuErrorLike }) => void) | null;
}

/**
 * WebGPU reports an out-of-memory or validation error on the device instead of throwing where it
 * happened, and tfjs never asks: the step would go on with invalid buffers and read back garbage.
 * This keeps the first such error and raises it at the next read (every step reads its loss).
 */
export class DeviceErrors {
  private first?: GpuErrorLike;

  constructor(device: ErrorSource) {
    device.onuncapturederror = (event) => {
      this.first ??= event.error;
    };
  }

  /** Throws, once, the first error since the last check. */
  check(): void {
    const error = this.first;
    if (!error) return;
    this.first = undefined;
    const message = error.message.split('\n')[0];
    if (error.constructor.name === 'GPUOutOfMemoryError') {
      throw new BtError('RUNTIME', `The GPU ran out of memory during the step (WebGPU: ${message}).`, {
        hint: 'Lower data.batchSize or the image size, or use a GPU with more memory.',
      });
    }
    throw new BtError('RUNTIME', `The WebGPU device reported an error during the step: ${message}`, {
      hint: 'This is a bug in a WebGPU kernel or in the driver: rerun with `backend: { use: wasm }` to train meanwhile, and report it with the log.',
    });
  }
}
