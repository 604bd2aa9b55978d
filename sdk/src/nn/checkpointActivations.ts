import * as tf from '@tensorflow/tfjs';
import { isReplayingForward, replayForward, type Module, type Sequential } from '../module.js';
import type { Rng } from '../rng.js';

/** The parts of tfjs's engine that an isolated gradient computation inside a backward pass swaps out. */
interface EngineState {
  activeTape: unknown[] | null;
  gradientDepth: number;
  activeScope: { id: number } | null;
}

export interface RecomputeOptions {
  /**
   * Generators the forward draws from (dropout, stochastic depth). They are rewound for the
   * recomputation, so that it draws the same masks, and then put back where the forward left them.
   */
  rngs?: readonly Rng[];
  /**
   * Keep the input in JavaScript memory instead of the backend's until the backward pass needs
   * it. Default: on backends with a memory ceiling (`memoryCeiling()`: wasm, native), whose heap
   * is the scarce part while the process can hold more.
   */
  offload?: boolean;
}

/** Whether tfjs records operations for a gradient right now (inside `tf.grad`/`variableGrads`, outside a kernel). */
export function isRecordingGradients(): boolean {
  return tf.engine().isTapeOn();
}

/**
 * `forward(input)` computed so that the backward pass keeps only `input`, not the activations
 * inside `forward`: the backward pass runs `forward` again and differentiates that replay. It
 * trades one more forward for the memory of every tensor the forward's gradients would need.
 * `variables` are those `forward` reads and that need gradients (trainable parameters).
 *
 * Outside a gradient computation it is `forward(input)`. The replay runs with forward hooks
 * silenced and BatchNorm statistics frozen (`replayForward`), so observers see one forward per
 * step. tfjs keeps every tensor a tape saved, and every intermediate gradient, until the end of
 * that tape's backward pass; the replay is differentiated on a tape of its own, and once it is
 * done the saved input and the incoming gradient are released, so a chain of recomputed blocks
 * frees its memory block by block as the backward pass goes.
 */
export function recompute<T extends tf.Tensor>(forward: (x: T) => T, input: T, variables: readonly tf.Variable[], options: RecomputeOptions = {}): T {
  if (!isRecordingGradients()) return forward(input);
  const rngs = options.rngs ?? [];
  const offload = options.offload ?? memoryCeiling() !== undefined;
  const before = rngs.map((r) => r.state());
  const op = tf.customGrad(((...args: unknown[]) => {
    const save = args.at(-1) as tf.GradSaveFunc;
    const x = args[0] as T;
    // dataSync copies out of the wasm heap (it returns the backend's own array only on `cpu`, which has no ceiling).
    const host = offload ? { values: x.dataSync(), shape: x.shape, dtype: x.dtype } : undefined;
    save(host ? [] : [x]);
    return {
      value: forward(x),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const input = host ? tf.tensor(host.values, host.shape, host.dtype) : saved[0];
        const grads = replayGradients(() => forward(input as T), [input, ...variables], dy, rngs, before);
        release(dy, input, grads);
        return grads;
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return op(input, ...variables) as T;
}

/**
 * Frees the input and the incoming gradient of a recomputed block once its gradients exist:
 * nothing later in the backward pass reads them. The gradient is freed only when this backward
 * pass made it (it was not passed in by the caller of `tf.grad`) and is not itself a result.
 */
function release(dy: tf.Tensor, input: tf.Tensor, grads: tf.Tensor[]): void {
  input.dispose();
  const scope = (tf.engine().state as unknown as EngineState).activeScope;
  const madeHere = scope !== null && (dy as unknown as { scopeId?: number }).scopeId === scope.id;
  if (madeHere && !grads.includes(dy)) dy.dispose();
}

/**
 * Gradients of `forward()` (whose inputs are `xs`) weighted by `dy`, computed on a fresh tape while
 * the outer backward pass is paused, with the generators rewound to where the original forward
 * started them.
 */
function replayGradients(forward: () => tf.Tensor, xs: tf.Tensor[], dy: tf.Tensor, rngs: readonly Rng[], before: ReturnType<Rng['state']>[]): tf.Tensor[] {
  const engine = tf.engine();
  const state = engine.state as unknown as EngineState;
  const outer = { activeTape: state.activeTape, gradientDepth: state.gradientDepth };
  const after = rngs.map((r) => r.state());
  rngs.forEach((r, i) => r.restore(before[i]));
  // engine.gradients starts a tape only at depth 0, and at depth 0 it disposes that tape when done:
  // the outer tape is set aside so that neither touches it.
  state.activeTape = [];
  state.gradientDepth = 0;
  try {
    return replayForward(() => {
      const { value, grads } = engine.gradients(forward, xs, dy as tf.Tensor, true);
      value.dispose();
      return grads.map((g, i) => g ?? tf.zerosLike(xs[i]));
    });
  } finally {
    state.activeTape = outer.activeTape;
    state.gradientDepth = outer.gradientDepth;
    rngs.forEach((r, i) => r.restore(after[i]));
  }
}

/**
 * `module.call(input)` with activation recomputation (see `recompute`): the module's trainable
 * parameters receive their gradients from the replay, its children's forward hooks fire once in
 * the forward, and its own hook sees the output that the rest of the model uses. In eval mode, or
 * outside a gradient computation, it is `module.call(input)`.
 */
export function checkpointActivations<T extends tf.Tensor>(module: Module & { forward(x: T): T }, input: T, options: RecomputeOptions = {}): T {
  if (!module.training || !isRecordingGradients()) return module.call(input);
  const output = recompute((x: T) => module.forward(x), input, Object.values(module.trainableVariables()), options);
  if (!isReplayingForward() && module.forwardHook.isUsed()) module.forwardHook.call({ module, name: module.path, inputs: [input], output });
  return output;
}

/** `true`: recompute every block's activations in the backward pass; `false`: keep them; `auto`: recompute when a step would not fit. */
export type CheckpointMode = boolean | 'auto';

/** emscripten's heap maximum for tfjs-wasm: 4 GiB less one 64 KiB page. */
const WASM_HEAP_MAX = 4294901760;

/**
 * The memory ceiling of the current backend where it has a hard one: the 32-bit heap of `wasm`
 * (the `native` backend keeps its tensors there too). Other backends are limited by the machine
 * or the device, which tfjs does not report: undefined.
 */
export function memoryCeiling(): number | undefined {
  return tf.getBackend() === 'wasm' ? WASM_HEAP_MAX : undefined;
}

/**
 * Share of the ceiling `auto` lets a step's estimate reach: the rest is for what the estimate
 * leaves out (heads' activations, losses) and for the allocator's fragmentation.
 */
export const AUTO_CHECKPOINT_FRACTION = 0.6;

/**
 * What a training step holds besides activations, whatever the batch: a gradient for every
 * trainable variable, and the optimizer's update of one parameter at a time (LARS: up to three
 * temporaries the size of that parameter). For a model whose head dwarfs its backbone (an
 * 8192-d projector: 151 M of ResNet-50 Barlow Twins' 175 M parameters) this is most of the step.
 */
function modelStepBytes(): number {
  let total = 0;
  let largest = 0;
  for (const variable of Object.values(tf.engine().registeredVariables)) {
    if (!variable.trainable) continue;
    const bytes = 4 * variable.size;
    total += bytes;
    largest = Math.max(largest, bytes);
  }
  return total + 3 * largest;
}

/**
 * A backbone's choice of recomputing its blocks' activations, made per training forward. `auto`
 * recomputes when the backend has a memory ceiling and the tensors held now, the gradients and
 * optimizer temporaries every step adds (`modelStepBytes`), and the backbone's estimate of its
 * activations for this input exceed `AUTO_CHECKPOINT_FRACTION` of it.
 */
export class ActivationCheckpointing {
  private reported = false;

  constructor(
    readonly mode: CheckpointMode,
    private readonly estimateStepBytes: (input: tf.Tensor) => number,
    /** Told once when `auto` first turns recomputation on, with the numbers it decided on. */
    private readonly onAuto?: (message: string) => void,
  ) {}

  /** Whether this forward of `module` on `input` recomputes its blocks. */
  enabled(module: Module, input: tf.Tensor): boolean {
    if (this.mode === false || !module.training || !isRecordingGradients()) return false;
    if (this.mode === true) return true;
    const ceiling = memoryCeiling();
    if (ceiling === undefined) return false;
    const held = tf.memory().numBytes + modelStepBytes();
    const estimate = this.estimateStepBytes(input);
    const on = held + estimate > AUTO_CHECKPOINT_FRACTION * ceiling;
    if (on && !this.reported) {
      this.reported = true;
      this.onAuto?.(
        `recomputing activations in the backward pass (checkpointActivations: auto): a step on input [${input.shape}] ` +
          `would hold about ${gb(held + estimate)} of the ${gb(ceiling)} ${tf.getBackend()} heap`,
      );
    }
    return on;
  }
}

function gb(bytes: number): string {
  return `${(bytes / 1024 ** 3).toFixed(1)} GB`;
}

/**
 * `sequence.call(input)` with each item through `checkpointActivations`: a stage of residual
 * blocks recomputed block by block. The sequence's own forward hook sees its input and output.
 */
export function checkpointSequence<T extends tf.Tensor>(sequence: Sequential, input: T, options: RecomputeOptions = {}): T {
  if (!sequence.training || !isRecordingGradients()) return sequence.call(input) as T;
  const output = sequence.items.reduce((x, item) => checkpointActivations(item as Module & { forward(x: T): T }, x, options), input);
  if (!isReplayingForward() && sequence.forwardHook.isUsed()) sequence.forwardHook.call({ module: sequence, name: sequence.path, inputs: [input], output });
  return output;
}
