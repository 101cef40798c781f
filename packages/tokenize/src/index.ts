// Tokenized dataset format
export {
  FORMAT,
  FORMAT_VERSION,
  type IndexEntry,
  type TokenDataset,
  type TokenDatasetMeta,
  TokenDatasetWriter,
  type TokenizedItem,
  readTokenDataset,
  shardName,
} from './dataset.js';

// Runtimes
export { type TokenizerRuntime, tfjsRuntime } from './runtime.js';
export { modelFingerprint, sha256 } from './fingerprint.js';

// Jobs
export { type TokenizeOptions, type TokenizeResult, tokenizeDirectory } from './tokenize.js';
export {
  type ReconstructOptions,
  type ReconstructResult,
  reconstructDataset,
  reconstructImages,
} from './reconstruct.js';
