import * as tf from '@tensorflow/tfjs-core';
import { heapOffset, type WasmHeapBackend } from './elementwise.js';
import type { NativeAddon } from './native.js';

/** Attributes of @qlip/nn's `FUSED_KERNELS.attention` and `attentionGrad`. */
export interface AttentionAttrs {
  heads: number;
  scale: number;
  causal: boolean;
}

const dims = new Float64Array(7);
const offsets = new Float64Array(8);

/** q `[B, Tq, D]`, k and v `[B, Tk, D]` float32 with D divisible by the heads; else a message naming the fault. */
function checkShapes(
  q: tf.TensorInfo,
  k: tf.TensorInfo,
  v: tf.TensorInfo,
  a: AttentionAttrs,
): string | undefined {
  const ok =
    [q, k, v].every((t) => t.dtype === 'float32' && t.shape.length === 3) &&
    tf.util.arraysEqual(k.shape, v.shape) &&
    q.shape[0] === k.shape[0] &&
    q.shape[2] === k.shape[2] &&
    Number.isInteger(a.heads) &&
    a.heads > 0 &&
    q.shape[2]! % a.heads === 0 &&
    a.scale > 0 &&
    k.shape[1]! > 0 &&
    (!a.causal || k.shape[1]! >= q.shape[1]!);
  if (ok) return undefined;
  return `@qlip/native-kernels: fused attention takes float32 q [B, Tq, D], k = v [B, Tk > 0, D] (Tk >= Tq when causal) with D divisible by ${a.heads} heads and scale ${a.scale} > 0; got ${[
    q,
    k,
    v,
  ]
    .map((t) => `[${t.shape}] ${t.dtype}`)
    .join(', ')}`;
}

function setDims(q: tf.TensorInfo, k: tf.TensorInfo, a: AttentionAttrs): void {
  const [b, tq, d] = q.shape as [number, number, number];
  dims.set([b, a.heads, tq, k.shape[1]!, d / a.heads, a.scale, a.causal ? 1 : 0]);
}

/**
 * softmax(scale q k^T + causal mask) v per head on the wasm heap: `[o [B, Tq, D], p [B, H, Tq, Tk]]`, p being
 * the probabilities the backward reads.
 */
export function nativeAttention(
  addon: NativeAddon,
  backend: WasmHeapBackend,
  inputs: { q: tf.TensorInfo; k: tf.TensorInfo; v: tf.TensorInfo },
  attrs: AttentionAttrs,
): tf.TensorInfo[] {
  const { q, k, v } = inputs;
  const fault = checkShapes(q, k, v, attrs);
  if (fault) throw new Error(fault);
  const [b, tq] = q.shape as [number, number];
  // Allocate first: makeOutput may grow wasm memory, which detaches every earlier heap view.
  const o = backend.makeOutput([...q.shape], 'float32');
  const p = backend.makeOutput([b, attrs.heads, tq, k.shape[1]!], 'float32');
  if (tf.util.sizeFromShape(q.shape) === 0) return [o, p];
  setDims(q, k, attrs);
  offsets.set([q, k, v, o, p].map((t) => heapOffset(backend, t)));
  addon.attention(backend.wasm.HEAPF32, dims, offsets);
  return [o, p];
}

/** The input gradients `[dq, dk, dv]` from `dy` `[B, Tq, D]` and the forward's inputs and probabilities `p`. */
export function nativeAttentionGrad(
  addon: NativeAddon,
  backend: WasmHeapBackend,
  inputs: { dy: tf.TensorInfo; q: tf.TensorInfo; k: tf.TensorInfo; v: tf.TensorInfo; p: tf.TensorInfo },
  attrs: AttentionAttrs,
): tf.TensorInfo[] {
  const { dy, q, k, v, p } = inputs;
  const fault = checkShapes(q, k, v, attrs);
  if (fault) throw new Error(fault);
  const [b, tq] = q.shape as [number, number];
  const pShape = [b, attrs.heads, tq, k.shape[1]!];
  if (!tf.util.arraysEqual(dy.shape, q.shape) || !tf.util.arraysEqual(p.shape, pShape)) {
    throw new Error(
      `@qlip/native-kernels: fused attention gradient needs dy [${q.shape}] and p [${pShape}]; got [${dy.shape}] and [${p.shape}]`,
    );
  }
  const grads = [q, k, v].map((t) => backend.makeOutput([...t.shape], 'float32'));
  if (tf.util.sizeFromShape(k.shape) === 0) return grads;
  setDims(q, k, attrs);
  offsets.set([q, k, v, p, dy, ...grads].map((t) => heapOffset(backend, t)));
  addon.attentionGrad(backend.wasm.HEAPF32, dims, offsets);
  return grads;
}
