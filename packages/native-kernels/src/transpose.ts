import type * as tf from '@tensorflow/tfjs-core';
import { heapOffset, type WasmHeapBackend } from './elementwise.js';
import type { NativeAddon } from './native.js';

/** Dtypes the native transpose and gather move: 4-byte elements whose bits they copy unchanged. */
export const FOUR_BYTE: ReadonlySet<tf.DataType> = new Set<tf.DataType>(['float32', 'int32']);

/**
 * out = transpose(x, perm) on the wasm heap, or undefined when the stock kernel should handle it (other
 * dtypes, rank above 8, a perm that is not a permutation: the stock kernel gives its own error message).
 * x: [d0, ..., d(r-1)] -> out: [d(perm[0]), ..., d(perm[r-1])].
 */
export function nativeTranspose(
  addon: NativeAddon,
  backend: WasmHeapBackend,
  x: tf.TensorInfo,
  perm: number[],
): tf.TensorInfo | undefined {
  const rank = x.shape.length;
  if (!FOUR_BYTE.has(x.dtype) || rank > 8 || perm.length !== rank) return undefined;
  const seen = new Set(perm);
  if (seen.size !== rank || perm.some((p) => !Number.isInteger(p) || p < 0 || p >= rank)) return undefined;
  // Allocate first: makeOutput may grow wasm memory, which detaches every earlier heap view.
  const out = backend.makeOutput(
    perm.map((p) => x.shape[p]),
    x.dtype,
  );
  if (x.shape.some((d) => d === 0)) return out;
  addon.transpose(
    backend.wasm.HEAPF32,
    heapOffset(backend, x),
    heapOffset(backend, out),
    Int32Array.from(x.shape),
    Int32Array.from(perm),
  );
  return out;
}
