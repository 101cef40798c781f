import * as tf from '@tensorflow/tfjs-core';

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
      const ids = b.readSync(segmentIds.dataId);
      const n = segmentIds.shape.reduce((a, c) => a * c, 1);
      const inner = n === 0 ? 0 : xs.length / n;
      const o =
        x.dtype === 'int32' ? new Int32Array(numSegments * inner) : new Float32Array(numSegments * inner);
      for (let i = 0; i < n; i++) {
        const s = ids[i]!;
        if (s < 0 || s >= numSegments) continue;
        const src = i * inner;
        const dst = s * inner;
        for (let j = 0; j < inner; j++) o[dst + j]! += xs[src + j]!;
      }
      return b.makeTensorInfo([numSegments, ...x.shape.slice(segmentIds.shape.length)], x.dtype, o);
    },
  });
}
