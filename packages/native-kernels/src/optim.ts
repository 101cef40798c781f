import * as tf from '@tensorflow/tfjs-core';
import { heapOffset, type WasmHeapBackend } from './elementwise.js';
import type { NativeAddon } from './native.js';

/** Attributes of @qlip/nn's `FUSED_KERNELS.adamW` (bias corrections bc = 1 - beta^t precomputed). */
export interface AdamWAttrs {
  beta1: number;
  beta2: number;
  lr: number;
  weightDecay: number;
  bc1: number;
  bc2: number;
  eps: number;
}

const offsets = new Float64Array(7);
const consts = new Float64Array(7);

/**
 * One AdamW step on the wasm heap: `[p1, m1, v1]` from p, g and the moments m, v (absent on the first step),
 * all float32 of one shape. Equals @qlip/trainer's op-by-op chain bit for bit (native/optim.h).
 */
export function nativeAdamW(
  addon: NativeAddon,
  backend: WasmHeapBackend,
  inputs: { p: tf.TensorInfo; g: tf.TensorInfo; m?: tf.TensorInfo; v?: tf.TensorInfo },
  attrs: AdamWAttrs,
): tf.TensorInfo[] {
  const { p, g, m, v } = inputs;
  const operands = [p, g, ...(m ? [m] : []), ...(v ? [v] : [])];
  if (!m !== !v || operands.some((t) => t.dtype !== 'float32' || !tf.util.arraysEqual(t.shape, p.shape))) {
    throw new Error(
      `@qlip/native-kernels: fused AdamW takes float32 p, g (and both moments or neither) of one shape; got ${operands
        .map((t) => `[${t.shape}] ${t.dtype}`)
        .join(', ')}`,
    );
  }
  // Allocate first: makeOutput may grow wasm memory, which detaches every earlier heap view.
  const outs = [0, 1, 2].map(() => backend.makeOutput([...p.shape], 'float32'));
  const n = tf.util.sizeFromShape(p.shape);
  if (n === 0) return outs;
  offsets[0] = heapOffset(backend, p);
  offsets[1] = heapOffset(backend, g);
  offsets[2] = m ? heapOffset(backend, m) : -1;
  offsets[3] = v ? heapOffset(backend, v) : -1;
  for (let k = 0; k < 3; k++) offsets[4 + k] = heapOffset(backend, outs[k]!);
  consts.set([attrs.beta1, attrs.beta2, attrs.lr, attrs.weightDecay, attrs.bc1, attrs.bc2, attrs.eps]);
  addon.adamw(backend.wasm.HEAPF32, offsets, n, consts);
  return outs;
}
