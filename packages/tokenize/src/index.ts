// Tokenized dataset format
export {
  FORMAT,
  FORMAT_VERSION,
  type IndexEntry,
  readTokenDataset,
  shardName,
  type TokenDataset,
  type TokenDatasetMeta,
  TokenDatasetWriter,
  type TokenizedItem,
} from './dataset.js';
export { modelFingerprint, sha256 } from './fingerprint.js';
export {
  type ReconstructOptions,
  type ReconstructResult,
  reconstructDataset,
  reconstructImages,
} from './reconstruct.js';
// Runtimes
export { type TokenizerRuntime, tfjsRuntime } from './runtime.js';
// Jobs
export { type TokenizeOptions, type TokenizeResult, tokenizeDirectory } from './tokenize.js';
