import type { IndexAgreement } from '@qlip/tokenize';

/** Running counts behind an `IndexAgreement` (add batches as they come). */
export class AgreementCounter {
  /** Images compared so far. */
  images = 0;
  private tokens = 0;
  private same = 0;
  private bitsDiffering = 0;

  constructor(readonly bits: number) {}

  /** Compare one batch: `[B, N]` indices (or group indices of `bits`-bit total width per token) of both runs. */
  add(reference: ArrayLike<number>, other: ArrayLike<number>, images: number, groups = 1): void {
    if (reference.length !== other.length) {
      throw new Error(`agreement: ${reference.length} reference indices vs ${other.length}`);
    }
    this.images += images;
    this.tokens += reference.length / groups;
    for (let i = 0; i < reference.length; i += groups) {
      let differ = 0;
      for (let j = 0; j < groups; j++) differ += popcount32((reference[i + j]! ^ other[i + j]!) >>> 0);
      if (differ === 0) this.same++;
      this.bitsDiffering += differ;
    }
  }

  result(): IndexAgreement {
    const pct = (x: number) => Math.round(x * 1e4) / 1e2;
    return {
      images: this.images,
      tokens: this.tokens,
      indicesIdentical: this.tokens ? pct(this.same / this.tokens) : 100,
      bitsAgreeing: this.tokens ? pct(1 - this.bitsDiffering / (this.tokens * this.bits)) : 100,
    };
  }
}

function popcount32(x: number): number {
  let v = x - ((x >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}
