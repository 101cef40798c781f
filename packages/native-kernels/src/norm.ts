import * as tf from '@tensorflow/tfjs-core';
import { heapOffset, type WasmHeapBackend } from './elementwise.js';
import type { NativeAddon } from './native.js';

const describe = (ts: tf.TensorInfo[]): string => ts.map((t) => `[${t.shape}] ${t.dtype}`).join(', ');

/** Rows and row length of x `[..., D]` when every operand is float32 and each vector one value per column. */
function rowsOf(what: string, x: tf.TensorInfo, same: tf.TensorInfo[], vectors: tf.TensorInfo[]): number[] {
  const d = x.shape[x.shape.length - 1] ?? 0;
  const ok =
    x.shape.length > 0 &&
    [x, ...same, ...vectors].every((t) => t.dtype === 'float32') &&
    same.every((t) => tf.util.arraysEqual(t.shape, x.shape)) &&
    vectors.every((t) => t.shape.length === 1 && t.shape[0] === d);
  if (!ok) {
    throw new Error(
      `@qlip/native-kernels: fused ${what} takes float32 x [..., D]${same.length ? ' and operands of its shape' : ''}` +
        `${vectors.length ? ' and [D] vectors' : ''}; got ${describe([x, ...same, ...vectors])}`,
    );
  }
  return [tf.util.sizeFromShape(x.shape) / Math.max(d, 1), d];
}

/** LayerNorm over the last axis of x `[..., D]` with gamma and beta `[D]`: `[..., D]`. */
export function nativeLayerNorm(
  addon: NativeAddon,
  backend: WasmHeapBackend,
  inputs: { x: tf.TensorInfo; gamma: tf.TensorInfo; beta: tf.TensorInfo },
  eps: number,
): tf.TensorInfo {
  const { x, gamma, beta } = inputs;
  const [rows, d] = rowsOf('LayerNorm', x, [], [gamma, beta]);
  // Allocate first: makeOutput may grow wasm memory, which detaches every earlier heap view.
  const y = backend.makeOutput([...x.shape], 'float32');
  if (rows! * d! === 0) return y;
  const at = (t: tf.TensorInfo) => heapOffset(backend, t);
  addon.layerNorm(backend.wasm.HEAPF32, at(x), at(gamma), at(beta), at(y), rows!, d!, eps);
  return y;
}

/** The LayerNorm gradients for dy: `[dx [..., D], dgamma [D], dbeta [D]]`. */
export function nativeLayerNormGrad(
  addon: NativeAddon,
  backend: WasmHeapBackend,
  inputs: { dy: tf.TensorInfo; x: tf.TensorInfo; gamma: tf.TensorInfo },
  eps: number,
): tf.TensorInfo[] {
  const { dy, x, gamma } = inputs;
  const [rows, d] = rowsOf('LayerNorm gradient', x, [dy], [gamma]);
  const outs = [
    backend.makeOutput([...x.shape], 'float32'),
    backend.makeOutput([d!], 'float32'),
    backend.makeOutput([d!], 'float32'),
  ];
  if (d === 0) return outs;
  const at = (t: tf.TensorInfo) => heapOffset(backend, t);
  const [dx, dgamma, dbeta] = outs.map(at);
  addon.layerNormGrad(backend.wasm.HEAPF32, at(dy), at(x), at(gamma), dx!, dgamma!, dbeta!, rows!, d!, eps);
  return outs;
}
