/**
 * The exact open_clip `SimpleTokenizer` (OpenAI CLIP BPE): cleanup (ftfy, html.unescape twice,
 * Python whitespace, lower-case), the pre-tokenizer regex, byte-level BPE, and `tokenize()` rows
 * of SOT + ids + EOT padded with 0. Pure (no Node built-ins): the browser page bundles it; tokenizer.ts adds
 * the loaders that read vocabulary files from disk.
 */
import { fixText } from './ftfy.js';
import { pythonHtmlUnescape, pythonWhitespaceClean } from './python-text.js';
import {
  bytesToUnicode,
  type ClipVocab,
  EOT,
  EOT_TEXT,
  SOT,
  SOT_TEXT,
  VOCAB_SIZE,
  vocabFromMergesText,
} from './vocab.js';

/** open_clip's cleanup: `whitespace_clean(basic_clean(text)).lower()`. */
export function cleanText(text: string): string {
  if (typeof text !== 'string') throw new TypeError(`cleanText: expected a string, got ${describe(text)}`);
  const unescaped = pythonHtmlUnescape(pythonHtmlUnescape(fixText(text)));
  // str.lower() and String#toLowerCase() both apply the full, locale-free Unicode mapping.
  return pythonWhitespaceClean(unescaped).toLowerCase();
}

// open_clip's pattern (Python `regex`, IGNORECASE). `i` matters once: `'s` also matches `'ſ`.
const PRETOKEN =
  /<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\p{White_Space}\p{L}\p{N}]+/giu;

/** `regex.findall(pat, clean)`: the pre-tokens of already cleaned text. */
export function pretokenize(clean: string): string[] {
  return clean.match(PRETOKEN) ?? [];
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}

const BYTE_TO_CHAR = bytesToUnicode().byteToChar;
const CHAR_TO_BYTE = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]));
const UTF8 = new TextEncoder();
const CACHE_LIMIT = 200_000;

/** Step-by-step view of one `encode`, for debugging. */
export interface EncodeTrace {
  clean: string;
  pretokens: string[];
  bpe: string[];
  ids: number[];
}

/** CLIP BPE tokenizer over a loaded vocabulary (in Node, `ClipBpe` adds the file loaders). */
export class ClipBpeCore {
  static readonly SOT = SOT;
  static readonly EOT = EOT;
  static readonly VOCAB_SIZE = VOCAB_SIZE;

  readonly vocab: ClipVocab;
  private readonly encoder = new Map<string, number>();
  private readonly ranks = new Map<string, number>();
  /** byte-level pre-token -> BPE symbols; special tokens bypass BPE. */
  private readonly cache = new Map<string, readonly string[]>();

  constructor(vocab: ClipVocab) {
    if (vocab.tokens.length !== VOCAB_SIZE) {
      throw new Error(
        `${vocab.source}: vocabulary has ${vocab.tokens.length} tokens, expected ${VOCAB_SIZE}`,
      );
    }
    this.vocab = vocab;
    vocab.tokens.forEach((t, id) => {
      if (this.encoder.has(t)) throw new Error(`${vocab.source}: token ${JSON.stringify(t)} appears twice`);
      this.encoder.set(t, id);
    });
    for (let rank = 0; rank < vocab.merges.length; rank++) {
      const [a, b] = vocab.merges[rank];
      this.ranks.set(`${a} ${b}`, rank);
    }
  }

  /** open_clip's `bpe_simple_vocab_16e6.txt` given as text (`source` names it in errors). */
  static fromMergesText(text: string, source: string): ClipBpeCore {
    return new ClipBpeCore(vocabFromMergesText(text, source));
  }

  /** The BPE symbols of one pre-token (e.g. `photo` -> [`photo</w>`]). */
  bpe(pretoken: string): readonly string[] {
    if (pretoken === SOT_TEXT || pretoken === EOT_TEXT) return [pretoken];
    let word = '';
    for (const b of UTF8.encode(pretoken)) word += BYTE_TO_CHAR[b];
    const cached = this.cache.get(word);
    if (cached) return cached;
    const symbols = this.mergeWord(word);
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(word, symbols);
    return symbols;
  }

  /** Repeatedly merges every occurrence of the lowest-ranked adjacent pair. */
  private mergeWord(word: string): string[] {
    let symbols = Array.from(word);
    symbols[symbols.length - 1] += '</w>';
    while (symbols.length > 1) {
      let best = Number.POSITIVE_INFINITY;
      let first = '';
      let second = '';
      for (let i = 0; i + 1 < symbols.length; i++) {
        const rank = this.ranks.get(`${symbols[i]} ${symbols[i + 1]}`);
        if (rank !== undefined && rank < best) {
          best = rank;
          first = symbols[i];
          second = symbols[i + 1];
        }
      }
      if (best === Number.POSITIVE_INFINITY) break;
      const merged: string[] = [];
      for (let i = 0; i < symbols.length; ) {
        if (symbols[i] === first && i + 1 < symbols.length && symbols[i + 1] === second) {
          merged.push(first + second);
          i += 2;
        } else {
          merged.push(symbols[i]);
          i += 1;
        }
      }
      symbols = merged;
    }
    return symbols;
  }

  private idOf(symbol: string): number {
    const id = this.encoder.get(symbol);
    if (id === undefined)
      throw new Error(
        `${this.vocab.source}: BPE produced ${JSON.stringify(symbol)}, which is not in the vocabulary`,
      );
    return id;
  }

  /** Every intermediate of `encode`: cleaned text, pre-tokens, BPE symbols, ids. */
  trace(text: string): EncodeTrace {
    const clean = cleanText(text);
    const pretokens = pretokenize(clean);
    const bpe = pretokens.flatMap((p) => this.bpe(p));
    return { clean, pretokens, bpe, ids: bpe.map((s) => this.idOf(s)) };
  }

  /** open_clip `SimpleTokenizer.encode`: the BPE ids of `text`, without SOT / EOT. */
  encode(text: string): number[] {
    if (typeof text !== 'string')
      throw new TypeError(`ClipBpe.encode: expected a string, got ${describe(text)}`);
    const ids: number[] = [];
    for (const pretoken of pretokenize(cleanText(text))) {
      for (const symbol of this.bpe(pretoken)) ids.push(this.idOf(symbol));
    }
    return ids;
  }

  /**
   * open_clip `tokenize(texts, context_length)`: row-major [P, contextLength] of SOT + ids + EOT,
   * zero-padded. A longer row keeps its first contextLength - 2 ids and ends with EOT.
   */
  tokenize(texts: readonly string[], contextLength = 77): Int32Array {
    if (!Array.isArray(texts))
      throw new TypeError(`ClipBpe.tokenize: expected an array of strings, got ${describe(texts)}`);
    if (!Number.isInteger(contextLength) || contextLength < 2) {
      throw new RangeError(`ClipBpe.tokenize: contextLength must be an integer >= 2, got ${contextLength}`);
    }
    const out = new Int32Array(texts.length * contextLength); // [P, contextLength]
    texts.forEach((text, p) => {
      if (typeof text !== 'string')
        throw new TypeError(`ClipBpe.tokenize: texts[${p}] is ${describe(text)}, expected a string`);
      const ids = this.encode(text);
      const row = p * contextLength;
      out[row] = SOT;
      const kept = Math.min(ids.length, contextLength - 2);
      for (let i = 0; i < kept; i++) out[row + 1 + i] = ids[i];
      out[row + 1 + kept] = EOT;
    });
    return out;
  }

  /** open_clip `decode`: symbols joined, bytes decoded as UTF-8 (invalid -> U+FFFD), `</w>` -> space. */
  decode(ids: Iterable<number>): string {
    const bytes: number[] = [];
    for (const id of ids) {
      const symbol = this.vocab.tokens[id];
      if (symbol === undefined)
        throw new RangeError(`ClipBpe.decode: id ${id} is outside 0..${VOCAB_SIZE - 1}`);
      for (const ch of symbol) {
        const b = CHAR_TO_BYTE.get(ch);
        // Special tokens are plain ASCII text; their characters map to themselves.
        bytes.push(b ?? ch.charCodeAt(0));
      }
    }
    return new TextDecoder('utf-8', { ignoreBOM: true })
      .decode(Uint8Array.from(bytes))
      .replaceAll('</w>', ' ');
  }
}
