import type * as tf from '@tensorflow/tfjs-core';
import type { NativeAddon } from './native.js';

/** The parts of tfjs-backend-wasm's BackendWasm the transpose touches. */
interface WasmHeapBackend {
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  wasm: { HEAPF32: Float32Array };
}

/** Dtypes the native transpose moves: 4-byte elements whose bits it copies unchanged. */
const FOUR_BYTE: ReadonlySet<tf.DataType> = new Set<tf.DataType>(['float32', 'int32']);

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
  const offset = (t: tf.TensorInfo): number => {
    const entry = backend.dataIdMap.get(t.dataId);
    if (!entry || entry.memoryOffset % 4 !== 0) {
      throw new Error(
        `@qlip/native-kernels: ${t.dtype} tensor of shape [${t.shape}] has no aligned data on the wasm heap`,
      );
    }
    return entry.memoryOffset / 4;
  };
  addon.transpose(
    backend.wasm.HEAPF32,
    offset(x),
    offset(out),
    Int32Array.from(x.shape),
    Int32Array.from(perm),
  );
  return out;
}
