// The browser-safe part of @qlip/text-encoder: the exact CLIP BPE tokenizer without its Node file loaders
// (no Node built-ins, no tfjs), built from the merges text the page fetches.
export { ClipBpeCore } from './bpe/clip-bpe-core.js';
