// The CLIP BPE tokenizer (an exact port of open_clip's, ftfy included) and the CLIP text transformer.
// Internals (ftfy, the vocabulary constants, pretokenisation) live in src/bpe/ and are tested there.

// BPE tokenizer

export { ClipBpe } from './bpe/clip-bpe.js';
export { bundledVocab, writeHfTokenizerFiles } from './bpe/vocab-files.js';

// Text transformer (official parameter names, prefix `text_model`)

export { type TextConfig, textSpecs, textTransformer } from './model/text-model.js';
