import type { ClipBpeCore } from '@qlip/text-encoder/browser';

/**
 * The unified model's text vocabulary: a handful of specials followed by the CLIP BPE ids that occur in
 * the training corpus. A 49,408-way softmax would dominate a CPU training step; the corpus of a small
 * captioned dataset uses tens to a few thousand ids. The mapping (`clipIds`) is saved in config.json.
 */
export const SPECIALS = ['<pad>', '<bos>', '<eos>', '<boi>', '<eoi>', '<unk>'] as const;
export const PAD = 0;
export const BOS = 1;
export const EOS = 2;
export const BOI = 3;
export const EOI = 4;
export const UNK = 5;

/** Restricted vocabulary: id `SPECIALS.length + i` is CLIP id `clipIds[i]`. */
export class RestrictedVocab {
  private readonly toLocal = new Map<number, number>();

  /** `clip`: the CLIP BPE tokenizer (the bundled one in Node; one built from clip-merges.txt in a page). */
  constructor(
    readonly clipIds: readonly number[],
    private readonly clip: ClipBpeCore,
  ) {
    clipIds.forEach((c, i) => {
      if (this.toLocal.has(c)) throw new Error(`vocabulary: CLIP id ${c} appears twice`);
      this.toLocal.set(c, SPECIALS.length + i);
    });
  }

  get size(): number {
    return SPECIALS.length + this.clipIds.length;
  }

  /** Text -> local ids (no bos/eos); CLIP ids outside the vocabulary become `<unk>`. */
  encode(text: string): number[] {
    return this.clip.encode(text).map((c) => this.toLocal.get(c) ?? UNK);
  }

  /** How many of `text`'s BPE tokens the vocabulary lacks (they would read as `<unk>`). */
  unknownCount(text: string): number {
    return this.clip.encode(text).filter((c) => !this.toLocal.has(c)).length;
  }

  /** Local ids -> text; specials are dropped (`<unk>` shows as `<unk>`), stops at nothing. */
  decode(ids: readonly number[]): string {
    const parts: string[] = [];
    let run: number[] = [];
    const flush = () => {
      if (run.length) parts.push(this.clip.decode(run));
      run = [];
    };
    for (const id of ids) {
      if (id >= SPECIALS.length && id < this.size) run.push(this.clipIds[id - SPECIALS.length]!);
      else if (id === UNK) {
        flush();
        parts.push('<unk> ');
      }
    }
    flush();
    // CLIP BPE ends every word with a space, punctuation included: "seven ." -> "seven."
    return parts
      .join('')
      .trim()
      .replace(/ ([.,!?;:])/g, '$1');
  }
}
