/**
 * The host loop of `UnsortedSegmentSum` (the gradient of `gather`, i.e. of every token-embedding lookup),
 * shared by the cpu and wasm kernels: out[s, ...] = sum over i with ids[i] == s of x[i, ...]; ids outside
 * [0, numSegments) are dropped (TensorFlow semantics). One O(N * inner) pass.
 */

/** `inner`: elements per row of x ([N, ...rest] -> prod(rest)); the output shape [numSegments, ...rest]. */
export function segmentSumLayout(
  xShape: readonly number[],
  xSize: number,
  idsShape: readonly number[],
  numSegments: number,
): { n: number; inner: number; outShape: number[] } {
  const n = idsShape.reduce((a, c) => a * c, 1);
  const inner = n === 0 ? 0 : xSize / n;
  return { n, inner, outShape: [numSegments, ...xShape.slice(idsShape.length)] };
}

/** Add every row i of xs ([n, inner]) into row ids[i] of out ([numSegments, inner], zero-filled by the caller). */
export function segmentSumInto(
  out: { [i: number]: number },
  xs: ArrayLike<number>,
  ids: ArrayLike<number>,
  n: number,
  inner: number,
  numSegments: number,
): void {
  for (let i = 0; i < n; i++) {
    const s = ids[i]!;
    if (s < 0 || s >= numSegments) continue;
    const src = i * inner;
    const dst = s * inner;
    for (let j = 0; j < inner; j++) out[dst + j]! += xs[src + j]!;
  }
}
