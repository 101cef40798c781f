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
