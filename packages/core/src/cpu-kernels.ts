import * as tf from '@tensorflow/tfjs-core';
import { segmentSumInto, segmentSumLayout } from './segment-sum.js';

/**
 * The cpu backend's `UnsortedSegmentSum` (the gradient of `gather`, i.e. of every token-embedding lookup)
 * builds an equality mask per segment: O(numSegments * N) with tensor allocations per segment, about 30 s
 * per training step for a 49408-token vocabulary. This replaces it with one O(N * inner) pass on the host
 * (same semantics: ids outside [0, numSegments) are dropped).
 */
let registered = false;

interface CpuBackendLike {
  readSync(dataId: object): ArrayLike<number>;
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array | Int32Array): tf.TensorInfo;
}

export function registerCpuTrainingKernels(): void {
  if (registered) return;
  registered = true;
  tf.unregisterKernel(tf.UnsortedSegmentSum, 'cpu');
  tf.registerKernel({
    kernelName: tf.UnsortedSegmentSum,
    backendName: 'cpu',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
      const { numSegments } = attrs as unknown as { numSegments: number };
      const b = backend as unknown as CpuBackendLike;
      const xs = b.readSync(x.dataId);
      const { n, inner, outShape } = segmentSumLayout(x.shape, xs.length, segmentIds.shape, numSegments);
      const o =
        x.dtype === 'int32' ? new Int32Array(numSegments * inner) : new Float32Array(numSegments * inner);
      segmentSumInto(o, xs, b.readSync(segmentIds.dataId), n, inner, numSegments);
      return b.makeTensorInfo(outShape, x.dtype, o);
    },
  });
}
