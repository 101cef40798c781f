import * as tf from '@tensorflow/tfjs-core';
import { segmentSumInto, segmentSumLayout } from './segment-sum.js';
import { registerWasmConv2DBackpropFilter } from './wasm-conv-backprop.js';

/**
 * Kernels the tfjs wasm backend lacks but training needs, implemented on the host.
 *
 * - `UnsortedSegmentSum`: the gradient of `gather` (token-embedding lookups in the text tower).
 * - `Conv2DBackpropFilter`: conv weight gradients (the PatchGAN discriminator); see wasm-conv-backprop.ts.
 */
let registered = false;

interface WasmBackendLike {
  readSync(dataId: object): ArrayLike<number>;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

export function registerWasmTrainingKernels(): void {
  if (registered) return;
  registered = true;
  registerWasmConv2DBackpropFilter();
  const have = new Set(tf.getKernelsForBackend('wasm').map((k) => k.kernelName));
  if (!have.has(tf.UnsortedSegmentSum)) {
    tf.registerKernel({
      kernelName: tf.UnsortedSegmentSum,
      backendName: 'wasm',
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
        const { numSegments } = attrs as unknown as { numSegments: number };
        const b = backend as unknown as WasmBackendLike;
        return unsortedSegmentSumHost(b, x, segmentIds, numSegments);
      },
    });
  }
}

/**
 * out[s, ...] = sum over i with ids[i] == s of x[i, ...]; ids outside [0, numSegments) are dropped
 * (TensorFlow semantics). x: [N, ...rest], segmentIds: [N] -> out: [numSegments, ...rest].
 */
function unsortedSegmentSumHost(
  b: WasmBackendLike,
  x: tf.TensorInfo,
  segmentIds: tf.TensorInfo,
  numSegments: number,
): tf.TensorInfo {
  const xs = b.readSync(x.dataId);
  const ids = b.readSync(segmentIds.dataId);
  const { n, inner, outShape } = segmentSumLayout(x.shape, xs.length, segmentIds.shape, numSegments);
  const out = b.makeOutput(outShape, x.dtype);
  // Allocate first, then take the heap view: a later allocation could grow (and detach) the heap.
  const o = b.typedArrayFromHeap(out);
  o.fill(0);
  segmentSumInto(o, xs, ids, n, inner, numSegments);
  return out;
}
