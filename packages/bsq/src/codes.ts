/**
 * Host-side bit packing for BSQ codes (plain typed arrays, no tensors).
 *
 * A BSQ code is a vector of L signs. Bit j of a code is 1 when channel j is positive (z_j > 0; zero
 * counts as negative, like the reference's `where(z > 0, 1, -1)`). Indices pack the bits
 * most-significant first: index = sum_j bit_j * 2^(L-1-j), so channel 0 is the MSB.
 *
 * Indices are uint32, so L <= 32. Past 32 bits a flat index no longer fits a uint32 (nor a float64
 * exactly past 53); use group indices (`codesToGroupIndices`), which is what the reference's
 * autoregressive consumers do for large L anyway.
 */

/** Largest bit count a flat uint32 index can hold. */
export const MAX_INDEX_BITS = 32;

function checkBits(bits: number, what: string): void {
  if (!Number.isInteger(bits) || bits < 1 || bits > MAX_INDEX_BITS) {
    throw new RangeError(
      `${what}: bits must be an integer in [1, ${MAX_INDEX_BITS}] (got ${bits}); for more bits use group indices`,
    );
  }
}

/**
 * Signs -> packed indices.
 * @param z `[n, L]` row-major continuous values or codes (only their sign is read)
 * @returns `[n]` uint32 indices, MSB = channel 0
 */
export function codesToIndices(z: ArrayLike<number>, bits: number): Uint32Array {
  checkBits(bits, 'codesToIndices');
  if (z.length % bits !== 0)
    throw new RangeError(`codesToIndices: length ${z.length} is not a multiple of ${bits}`);
  const n = z.length / bits;
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    let idx = 0;
    const base = i * bits;
    // Multiply-add instead of shifts: `<<` is 32-bit signed in JS and would overflow at bit 31.
    for (let j = 0; j < bits; j++) idx = idx * 2 + (z[base + j]! > 0 ? 1 : 0);
    out[i] = idx;
  }
  return out;
}

/**
 * Signs -> per-group packed indices (group g covers channels g*groupSize .. (g+1)*groupSize-1).
 * @param z `[n, L]` row-major
 * @returns `[n, L / groupSize]` uint32, MSB-first within each group
 */
export function codesToGroupIndices(z: ArrayLike<number>, bits: number, groupSize: number): Uint32Array {
  checkBits(groupSize, 'codesToGroupIndices(groupSize)');
  if (bits % groupSize !== 0)
    throw new RangeError(`codesToGroupIndices: ${bits} bits is not a multiple of group size ${groupSize}`);
  if (z.length % bits !== 0)
    throw new RangeError(`codesToGroupIndices: length ${z.length} is not a multiple of ${bits}`);
  const groups = bits / groupSize;
  const n = z.length / bits;
  const out = new Uint32Array(n * groups); // [n, G]
  for (let i = 0; i < n; i++) {
    for (let g = 0; g < groups; g++) {
      let idx = 0;
      const base = i * bits + g * groupSize;
      for (let j = 0; j < groupSize; j++) idx = idx * 2 + (z[base + j]! > 0 ? 1 : 0);
      out[i * groups + g] = idx;
    }
  }
  return out;
}

/**
 * Packed indices -> codes (+-scale), the exact inverse of `codesToIndices` (the reference's
 * `get_codebook_entry`; scale is 1/sqrt(L) when the quantizer's l2_norm is on, else 1).
 * @param indices `[n]`
 * @returns `[n, L]` row-major Float32Array
 */
export function indicesToCodes(indices: ArrayLike<number>, bits: number, scale: number): Float32Array {
  checkBits(bits, 'indicesToCodes');
  const limit = 2 ** bits;
  const out = new Float32Array(indices.length * bits);
  const pos = Math.fround(scale);
  for (let i = 0; i < indices.length; i++) {
    let v = indices[i]!;
    if (!Number.isInteger(v) || v < 0 || v >= limit) {
      throw new RangeError(`indicesToCodes: index ${v} at position ${i} is outside [0, 2^${bits})`);
    }
    for (let j = bits - 1; j >= 0; j--) {
      out[i * bits + j] = v % 2 === 1 ? pos : -pos;
      v = Math.floor(v / 2);
    }
  }
  return out;
}

/**
 * Group indices -> codes (+-scale).
 * @param groupIndices `[n, G]`
 * @returns `[n, G * groupSize]`
 */
export function groupIndicesToCodes(
  groupIndices: ArrayLike<number>,
  groupSize: number,
  scale: number,
): Float32Array {
  return indicesToCodes(groupIndices, groupSize, scale);
}

/**
 * Group indices -> flat indices (group 0 most significant), when G * groupSize <= 32.
 * @param groupIndices `[n, G]` -> `[n]`
 */
export function groupIndicesToIndices(
  groupIndices: ArrayLike<number>,
  groups: number,
  groupSize: number,
): Uint32Array {
  checkBits(groups * groupSize, 'groupIndicesToIndices');
  const n = groupIndices.length / groups;
  const out = new Uint32Array(n);
  const radix = 2 ** groupSize;
  for (let i = 0; i < n; i++) {
    let idx = 0;
    for (let g = 0; g < groups; g++) idx = idx * radix + groupIndices[i * groups + g]!;
    out[i] = idx;
  }
  return out;
}

/**
 * The 2^g codes of one group in index order (code 0 = all -1), entries +-scale.
 * @returns `[2^g, g]` row-major
 */
export function groupCodebook(groupSize: number, scale: number): Float32Array {
  checkBits(groupSize, 'groupCodebook');
  if (groupSize > 16)
    throw new RangeError(`groupCodebook: group size ${groupSize} would need 2^${groupSize} codes; use <= 16`);
  const count = 2 ** groupSize;
  return indicesToCodes(
    Uint32Array.from({ length: count }, (_, i) => i),
    groupSize,
    scale,
  );
}
