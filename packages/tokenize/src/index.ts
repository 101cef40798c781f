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
export { type InputShard, planInputs, resolveShare, type Share, selectShards } from './inputs.js';
// Parts layout (format version 2): one atomic part per input shard
export {
  chunkSizeFor,
  DONE_FILE,
  ensureDatasetMeta,
  PARTS_DIR,
  type PartDone,
  type PartsScan,
  scanParts,
} from './parts.js';
export {
  type ReconstructOptions,
  type ReconstructResult,
  reconstructDataset,
  reconstructImages,
  roundTrip,
} from './reconstruct.js';
// Runtimes
export { type ModelRuntime, tfjsRuntime } from './runtime.js';
export {
  datasetMeta,
  type ShardOutcome,
  type ShardSettings,
  type TokenizeDatasetOptions,
  type TokenizeDatasetResult,
  tokenizeDataset,
  tokenizeShard,
} from './shards.js';
// Jobs
export { type TokenizeOptions, type TokenizeResult, tokenizeDirectory } from './tokenize.js';
