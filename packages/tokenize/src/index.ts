// Tokenize jobs: a dataset of input shards, one part per shard

export { type InputShard, planInputs, resolveShare, selectShards } from './inputs.js';
export { chunkSizeFor, ensureDatasetMeta, scanParts } from './parts.js';
export {
  datasetMeta,
  type ShardSettings,
  type TokenizeDatasetOptions,
  type TokenizeDatasetResult,
  tokenizeDataset,
  tokenizeShard,
} from './shards.js';

// The model runtime the jobs drive

export { type IndexAgreement, type ModelRuntime, tfjsRuntime } from './runtime.js';

// Reading token datasets (and the single-index writer of token caches)

export {
  readTokenDataset,
  shardName,
  type TokenDataset,
  type TokenDatasetMeta,
  TokenDatasetWriter,
} from './dataset.js';
export { modelFingerprint } from './fingerprint.js';

// Reconstruction

export {
  type ReconstructOptions,
  type ReconstructResult,
  reconstructDataset,
  reconstructImages,
  roundTrip,
} from './reconstruct.js';

// The single-index tokenize job (format version 1)

export { type TokenizeOptions, type TokenizeResult, tokenizeDirectory } from './tokenize.js';
