import * as tf from '@tensorflow/tfjs-core';
import type { NativeAddon } from './native.js';

/** The parts of tfjs-backend-wasm's BackendWasm the elementwise kernels touch. */
export interface WasmHeapBackend {
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  wasm: { HEAPF32: Float32Array };
}

/** Unary kernels done natively, with their op codes (`enum UnaryOp` in native/elementwise.h). */
export const UNARY_OPS = { [tf.Exp]: 0, [tf.Erf]: 1, [tf.Tanh]: 2, [tf.Log]: 3 } as const;

/** Binary kernels done natively, with their op codes (`enum BinaryOp` in native/elementwise.h). */
export const BINARY_OPS = { [tf.Add]: 0, [tf.Sub]: 1, [tf.Multiply]: 2, [tf.RealDiv]: 3 } as const;

const size = (shape: number[]): number => shape.reduce((a, c) => a * c, 1);

/** The offset on the wasm heap, in 4-byte elements, of a float32 or int32 tensor. */
export function heapOffset(backend: WasmHeapBackend, t: tf.TensorInfo): number {
  const entry = backend.dataIdMap.get(t.dataId);
  if (!entry || entry.memoryOffset % 4 !== 0) {
    throw new Error(
      `@qlip/native-kernels: ${t.dtype} tensor of shape [${t.shape}] has no aligned data on the wasm heap`,
    );
  }
  return entry.memoryOffset / 4;
}

/** out = op(x) elementwise for float32 x, or undefined (other dtypes: the stock kernel). */
export function nativeUnary(
  addon: NativeAddon,
  backend: WasmHeapBackend,
  op: number,
  x: tf.TensorInfo,
): tf.TensorInfo | undefined {
  if (x.dtype !== 'float32') return undefined;
  // Allocate first: makeOutput may grow wasm memory, which detaches every earlier heap view.
  const out = backend.makeOutput([...x.shape], 'float32');
  const n = size(x.shape);
  if (n > 0) addon.unary(backend.wasm.HEAPF32, op, heapOffset(backend, x), heapOffset(backend, out), n);
  return out;
}

/**
 * `tf.sum(x, axis, keepDims)` for float32 x whose reduced axes are adjacent (bias gradients reduce the
 * leading axes, row sums the last one), without the transpose the stock kernel does first; undefined
 * (the stock kernel) otherwise. x viewed as [outer, reduce, inner] -> out [outer, inner].
 */
export function nativeSum(
  addon: NativeAddon,
  backend: WasmHeapBackend,
  x: tf.TensorInfo,
  axis: number | number[],
  keepDims: boolean,
): tf.TensorInfo | undefined {
  if (x.dtype !== 'float32') return undefined;
  let axes: number[];
  try {
    axes = [...tf.util.parseAxisParam(axis, x.shape)].sort((a, b) => a - b);
  } catch {
    return undefined; // the stock kernel reports the bad axis
  }
  if (axes.length === 0 || axes.some((a, i) => i > 0 && a !== axes[i - 1]! + 1)) return undefined;
  const first = axes[0]!;
  const last = axes[axes.length - 1]!;
  const outer = size(x.shape.slice(0, first));
  const reduce = size(x.shape.slice(first, last + 1));
  const inner = size(x.shape.slice(last + 1));
  const outShape = keepDims
    ? x.shape.map((d, i) => (i >= first && i <= last ? 1 : d))
    : x.shape.filter((_, i) => i < first || i > last);
  const out = backend.makeOutput(outShape, 'float32');
  if (outer * inner === 0) return out;
  const heap = backend.wasm.HEAPF32;
  if (reduce === 0) heap.fill(0, heapOffset(backend, out), heapOffset(backend, out) + outer * inner);
  else addon.sum(heap, heapOffset(backend, x), heapOffset(backend, out), outer, reduce, inner);
  return out;
}

/**
 * `tf.mean(x, axis, keepDims)` for float32 x over adjacent axes: the native sum, then each sum divided by the
 * reduced size in float32, as the stock kernel does after its transpose (the same additions in the same
 * order, so the means are bit-identical); undefined (the stock kernel) for other dtypes, axes that are not
 * adjacent or not in ascending order, or an empty tensor. The division runs in JavaScript: float64 division of float32 operands, rounded to
 * float32, is the correctly rounded float32 quotient, and outputs are small (one value per row or column).
 */
export function nativeMean(
  addon: NativeAddon,
  backend: WasmHeapBackend,
  x: tf.TensorInfo,
  axis: number | number[],
  keepDims: boolean,
): tf.TensorInfo | undefined {
  const outSize = x.dtype === 'float32' ? tf.util.sizeFromShape(x.shape) : 0;
  let axes: number[] = [];
  try {
    axes = tf.util.parseAxisParam(axis, x.shape);
  } catch {
    return undefined; // the stock kernel reports the bad axis
  }
  // Axes out of order make the stock kernel transpose first, which reorders the additions.
  if (axes.some((a, i) => i > 0 && a < axes[i - 1]!)) return undefined;
  const out = outSize > 0 ? nativeSum(addon, backend, x, axes, keepDims) : undefined;
  if (!out) return undefined;
  const n = tf.util.sizeFromShape(out.shape);
  const reduce = outSize / n;
  const heap = backend.wasm.HEAPF32;
  const o = heapOffset(backend, out);
  for (let i = o; i < o + n; i++) heap[i] = heap[i]! / reduce;
  return out;
}

/**
 * Broadcast strides of a and b over the output shape, with adjacent dimensions merged wherever both
 * operands (and the output) step through them as one: `[16, 65, 256] * [256]` becomes `[1040, 256]`
 * with a's strides `[256, 1]` and b's `[0, 1]`.
 */
function broadcastPlan(
  aShape: number[],
  bShape: number[],
  outShape: number[],
): { shape: number[]; sa: number[]; sb: number[] } {
  const r = outShape.length;
  const strides = (shape: number[]): number[] => {
    const padded = [...new Array(r - shape.length).fill(1), ...shape];
    const st = new Array<number>(r);
    let acc = 1;
    for (let d = r - 1; d >= 0; d--) {
      st[d] = padded[d] === 1 ? 0 : acc;
      acc *= padded[d]!;
    }
    return st;
  };
  const a = strides(aShape);
  const b = strides(bShape);
  const shape: number[] = [];
  const sa: number[] = [];
  const sb: number[] = [];
  for (let d = 0; d < r; d++) {
    if (outShape[d] === 1) continue; // size-1 dimensions carry nothing
    const k = shape.length - 1;
    if (k >= 0 && sa[k] === a[d]! * outShape[d]! && sb[k] === b[d]! * outShape[d]!) {
      shape[k] *= outShape[d]!;
      sa[k] = a[d]!;
      sb[k] = b[d]!;
    } else {
      shape.push(outShape[d]!);
      sa.push(a[d]!);
      sb.push(b[d]!);
    }
  }
  if (shape.length === 0) return { shape: [1], sa: [1], sb: [1] };
  return { shape, sa, sb };
}

/** out = a op b (Add, Sub, Multiply, RealDiv) for float32 a and b under broadcasting, or undefined (stock). */
export function nativeBinary(
  addon: NativeAddon,
  backend: WasmHeapBackend,
  op: number,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
): tf.TensorInfo | undefined {
  if (a.dtype !== 'float32' || b.dtype !== 'float32') return undefined;
  let outShape: number[];
  try {
    outShape = tf.broadcast_util.assertAndGetBroadcastShape(a.shape, b.shape);
  } catch {
    return undefined; // the stock kernel reports the mismatch
  }
  const plan = broadcastPlan(a.shape, b.shape, outShape);
  if (plan.shape.length > 8) return undefined;
  const out = backend.makeOutput(outShape, 'float32');
  if (size(outShape) === 0) return out;
  addon.binary(
    backend.wasm.HEAPF32,
    op,
    heapOffset(backend, a),
    heapOffset(backend, b),
    heapOffset(backend, out),
    Int32Array.from(plan.shape),
    Int32Array.from(plan.sa),
    Int32Array.from(plan.sb),
  );
  return out;
}

/** Exact GELU (`grad` absent) or its input gradient `dy * GELU'(x)`, for float32 operands of one shape. */
export function nativeGelu(
  addon: NativeAddon,
  backend: WasmHeapBackend,
  x: tf.TensorInfo,
  dy?: tf.TensorInfo,
): tf.TensorInfo {
  const operands = dy ? [x, dy] : [x];
  if (operands.some((t) => t.dtype !== 'float32') || (dy && !tf.util.arraysEqual(dy.shape, x.shape))) {
    throw new Error(
      `@qlip/native-kernels: fused GELU takes float32 operands of one shape (x [${x.shape}] ${x.dtype}` +
        `${dy ? `, dy [${dy.shape}] ${dy.dtype}` : ''})`,
    );
  }
  const out = backend.makeOutput([...x.shape], 'float32');
  const n = size(x.shape);
  if (n === 0) return out;
  const heap = backend.wasm.HEAPF32;
  if (dy) addon.geluGrad(heap, heapOffset(backend, dy), heapOffset(backend, x), heapOffset(backend, out), n);
  else addon.gelu(heap, heapOffset(backend, x), heapOffset(backend, out), n);
  return out;
}
