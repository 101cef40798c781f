/** Token statistics of a BSQ codebook of size 2^L. */
export interface CodebookUsage {
  /** Bits per token (L). */
  bits: number;
  /** Number of tokens counted. */
  tokens: number;
  /** Distinct codes seen. */
  distinct: number;
  /** distinct / 2^L. */
  usageFraction: number;
  /** Per-bit entropy in bits (0..1) for bit positions 0..L-1, MSB first (position 0 is bit L-1 of the index). */
  bitEntropy: number[];
  /** Mean of `bitEntropy`. */
  meanBitEntropy: number;
  /** Entropy of the empirical code distribution, in bits. */
  codeEntropy: number;
  /** 2^codeEntropy: the effective number of equally used codes. */
  perplexity: number;
}

function binaryEntropy(p: number): number {
  if (p <= 0 || p >= 1) return 0;
  return -(p * Math.log2(p) + (1 - p) * Math.log2(1 - p));
}

/**
 * Codebook usage of packed token indices (`uint32`, bits MSB-first as `@qlip/bsq` packs them).
 * @param indices token indices, any shape flattened; each must lie in [0, 2^bits)
 * @param bits L, 1..32
 */
export function codebookUsage(indices: ArrayLike<number>, bits: number): CodebookUsage {
  if (!Number.isInteger(bits) || bits < 1 || bits > 32)
    throw new Error(`codebookUsage: bits must be an integer in 1..32, got ${bits}`);
  const n = indices.length;
  if (n === 0) throw new Error('codebookUsage: no token indices given');
  const size = 2 ** bits;
  const counts = new Map<number, number>();
  const ones = new Float64Array(bits);
  for (let i = 0; i < n; i++) {
    const v = indices[i];
    if (!Number.isInteger(v) || v < 0 || v >= size) {
      throw new Error(`codebookUsage: index ${v} at position ${i} is not an integer in [0, 2^${bits})`);
    }
    counts.set(v, (counts.get(v) ?? 0) + 1);
    // Division instead of shifts: shifts are signed 32-bit in JS and would break for bits = 32.
    let rest = v;
    for (let j = bits - 1; j >= 0; j--) {
      if (rest % 2 === 1) ones[j] += 1;
      rest = Math.floor(rest / 2);
    }
  }
  const bitEntropy = Array.from(ones, (c) => binaryEntropy(c / n));
  let codeEntropy = 0;
  for (const c of counts.values()) {
    const p = c / n;
    codeEntropy -= p * Math.log2(p);
  }
  return {
    bits,
    tokens: n,
    distinct: counts.size,
    usageFraction: counts.size / size,
    bitEntropy,
    meanBitEntropy: bitEntropy.reduce((s, v) => s + v, 0) / bits,
    codeEntropy,
    perplexity: 2 ** codeEntropy,
  };
}

/** Bits needed for one image: `tokensPerImage * bits` (e.g. 16x16 tokens of 28 bits = 7168). */
export function bitsPerImage(tokensPerImage: number, bits: number): number {
  if (tokensPerImage <= 0 || bits <= 0)
    throw new Error(`bitsPerImage: need positive token count and bits, got ${tokensPerImage}, ${bits}`);
  return tokensPerImage * bits;
}

/**
 * Compression ratio as the QLIP paper defines it: the 24-bit RGB pixels of one p x p patch over the
 * L bits of its token, `24 p^2 / L` (p = 16, L = 28 gives 219.4).
 */
export function compressionRatio(patchSize: number, bits: number): number {
  if (patchSize <= 0 || bits <= 0)
    throw new Error(`compressionRatio: need positive patch size and bits, got ${patchSize}, ${bits}`);
  return (24 * patchSize * patchSize) / bits;
}
