import { describe, expect, it } from 'vitest';
import { segmentSumInto, segmentSumLayout } from '../src/segment-sum.js';

describe('segmentSumInto (the host UnsortedSegmentSum loop of the cpu and wasm kernels)', () => {
  it('sums rows into their segments and drops ids outside [0, numSegments)', () => {
    // x [4, 2], ids [4] -> out [3, 2]
    const x = [1, 2, 3, 4, 5, 6, 7, 8];
    const ids = [2, 0, 2, -1];
    const { n, inner, outShape } = segmentSumLayout([4, 2], x.length, [4], 3);
    expect({ n, inner, outShape }).toEqual({ n: 4, inner: 2, outShape: [3, 2] });
    const out = new Float32Array(3 * inner);
    segmentSumInto(out, x, ids, n, inner, 3);
    expect(Array.from(out)).toEqual([3, 4, 0, 0, 1 + 5, 2 + 6]);
  });

  it('keeps trailing dimensions and handles no rows', () => {
    expect(segmentSumLayout([2, 3, 4], 24, [2], 5).outShape).toEqual([5, 3, 4]);
    expect(segmentSumLayout([0, 4], 0, [0], 2)).toEqual({ n: 0, inner: 0, outShape: [2, 4] });
  });
});
