// Tokenizer: the exact open_clip / OpenAI CLIP BPE tokenizer.

export { ClipBpe } from './clip-bpe.js';
export { cleanText, type EncodeTrace, pretokenize } from './clip-bpe-core.js';
// Text cleanup: ftfy 6.3.1 port and the Python behaviours CLIP's cleanup depends on.
export { type FtfyStep, fixEncoding, fixSegment, fixText, unescapeHtml } from './ftfy.js';
export { badness, isBad } from './ftfy-badness.js';
export { HTML5_ENTITIES, pythonHtmlUnescape, pythonWhitespaceClean } from './python-text.js';
// Vocabulary: constants, loaders and the Hugging Face file layout.
export {
  bytesToUnicode,
  type ClipVocab,
  EOT,
  EOT_TEXT,
  HF_EOT_TEXT,
  HF_SOT_TEXT,
  NUM_MERGES,
  SOT,
  SOT_TEXT,
  VOCAB_SIZE,
  vocabFromMergesText,
} from './vocab.js';
export { bundledVocab, readHfVocab, readOpenClipMerges, writeHfTokenizerFiles } from './vocab-files.js';
