import * as tf from '@tensorflow/tfjs';
import type { NativeAddon } from './NativeAddon.js';
import { heapOf, offsetOf, type WasmBackendLike } from './WasmHeap.js';

type ConvInfo = ReturnType<typeof tf.backend_util.computeConv2DInfo>;
interface ConvAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW';
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape?: [number, number, number, number];
  inputShape?: [number, number, number, number];
}

/** The geometry the addon takes: b, h, w, c, oh, ow, co, kh, kw, sh, sw, pad top, pad left, dh, dw. */
function geometry(i: ConvInfo): Int32Array {
  return Int32Array.from([i.batchSize, i.inHeight, i.inWidth, i.inChannels, i.outHeight, i.outWidth, i.outChannels, i.filterHeight, i.filterWidth, i.strideHeight, i.strideWidth, i.padInfo.top, i.padInfo.left, i.dilationHeight, i.dilationWidth]);
}

function convInfo(xShape: number[], filterShape: number[], a: ConvAttrs): ConvInfo | undefined {
  if ((a.dataFormat ?? 'NHWC') !== 'NHWC') return undefined;
  return tf.backend_util.computeConv2DInfo(xShape as [number, number, number, number], filterShape as [number, number, number, number], a.strides, a.dilations ?? 1, a.pad, a.dimRoundingMode, false, 'channelsLast');
}

/** Conv2D through im2col + sgemm (a 1×1 stride-1 convolution is a single sgemm). */
export function conv2dKernel(addon: NativeAddon, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { x, filter } = args.inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
    const info = convInfo(x.shape, filter.shape, args.attrs as unknown as ConvAttrs);
    if (!info || x.dtype !== 'float32' || filter.dtype !== 'float32') return fallback(args);
    const backend = args.backend as unknown as WasmBackendLike;
    const out = backend.makeOutput(info.outShape, 'float32');
    if (tf.util.sizeFromShape(info.outShape) > 0) addon.conv2d(heapOf(backend), offsetOf(backend, x), offsetOf(backend, filter), offsetOf(backend, out), geometry(info));
    return out;
  };
}

/** The input gradient of Conv2D: sgemm with the filter, then col2im. */
export function conv2dBackpropInputKernel(addon: NativeAddon, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { dy, filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
    const attrs = args.attrs as unknown as ConvAttrs;
    const info = convInfo(attrs.inputShape!, filter.shape, attrs);
    if (!info || dy.dtype !== 'float32' || filter.dtype !== 'float32') return fallback(args);
    const backend = args.backend as unknown as WasmBackendLike;
    const out = backend.makeOutput(info.inShape, 'float32');
    if (tf.util.sizeFromShape(info.inShape) === 0) return out;
    if (tf.util.sizeFromShape(dy.shape) === 0) backend.typedArrayFromHeap(out).fill(0);
    else addon.conv2dBackpropInput(heapOf(backend), offsetOf(backend, dy), offsetOf(backend, filter), offsetOf(backend, out), geometry(info));
    return out;
  };
}

/** The filter gradient of Conv2D: im2colᵀ · dy, by chunks of rows. */
export function conv2dBackpropFilterKernel(addon: NativeAddon, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
    const attrs = args.attrs as unknown as ConvAttrs;
    const info = convInfo(x.shape, attrs.filterShape!, attrs);
    if (!info || x.dtype !== 'float32' || dy.dtype !== 'float32') return fallback(args);
    const backend = args.backend as unknown as WasmBackendLike;
    const out = backend.makeOutput(attrs.filterShape!, 'float32');
    if (tf.util.sizeFromShape(dy.shape) === 0) backend.typedArrayFromHeap(out).fill(0);
    else if (tf.util.sizeFromShape(attrs.filterShape!) > 0) addon.conv2dBackpropFilter(heapOf(backend), offsetOf(backend, x), offsetOf(backend, dy), offsetOf(backend, out), geometry(info));
    return out;
  };
}

/** Unpack (unstack) of 4-byte tensors: strided row copies instead of one slice kernel per output. */
export function unpackKernel(addon: NativeAddon, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { value } = args.inputs as { value: tf.TensorInfo };
    const { axis } = args.attrs as unknown as { axis: number };
    if (value.dtype !== 'float32' && value.dtype !== 'int32') return fallback(args);
    const ax = axis < 0 ? axis + value.shape.length : axis;
    const num = value.shape[ax];
    const shape = value.shape.filter((_, i) => i !== ax);
    const backend = args.backend as unknown as WasmBackendLike;
    const outs = Array.from({ length: num }, () => backend.makeOutput(shape, value.dtype));
    const outer = tf.util.sizeFromShape(value.shape.slice(0, ax));
    const inner = tf.util.sizeFromShape(value.shape.slice(ax + 1));
    if (num > 0 && outer * inner > 0) addon.unpack(heapOf(backend), offsetOf(backend, value), outer, num, inner, Float64Array.from(outs, (o) => offsetOf(backend, o)));
    return outs;
  };
}

/** MaxPoolGrad: each window's dy goes to its first maximum (tfjs-wasm's version is a slow scalar loop). */
export function maxPoolGradKernel(addon: NativeAddon, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { dy, input } = args.inputs as { dy: tf.TensorInfo; input: tf.TensorInfo };
    const a = args.attrs as unknown as { filterSize: number | [number, number]; strides: number | [number, number]; pad: 'valid' | 'same' | number; dimRoundingMode?: 'floor' | 'round' | 'ceil' };
    if (input.dtype !== 'float32' || dy.dtype !== 'float32') return fallback(args);
    const info = tf.backend_util.computePool2DInfo(input.shape as [number, number, number, number], a.filterSize, a.strides, 1, a.pad, a.dimRoundingMode);
    const backend = args.backend as unknown as WasmBackendLike;
    const out = backend.makeOutput(input.shape, 'float32');
    if (tf.util.sizeFromShape(input.shape) === 0) return out;
    addon.maxPoolGrad(heapOf(backend), offsetOf(backend, input), offsetOf(backend, dy), offsetOf(backend, out), geometry(info));
    return out;
  };
}
