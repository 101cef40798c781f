import { ClipBpe } from '@qlip/text-encoder';
import { RestrictedVocab } from './text-vocab.js';

export { BOI, BOS, EOI, EOS, PAD, SPECIALS } from './text-vocab.js';

/** The restricted vocabulary over the bundled CLIP BPE tokenizer (Node; the page builds its own). */
export class UnifiedVocab extends RestrictedVocab {
  constructor(clipIds: readonly number[]) {
    super(clipIds, ClipBpe.default());
  }

  /** Vocabulary of a corpus: every CLIP id its texts use, sorted. */
  static fromTexts(texts: Iterable<string>): UnifiedVocab {
    const tok = ClipBpe.default();
    const ids = new Set<number>();
    const seen = new Set<string>();
    for (const t of texts) {
      if (seen.has(t)) continue;
      seen.add(t);
      for (const id of tok.encode(t)) ids.add(id);
    }
    return new UnifiedVocab([...ids].sort((a, b) => a - b));
  }
}
