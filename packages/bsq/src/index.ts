// Host-side bit packing
export {
  codesToGroupIndices,
  codesToIndices,
  groupCodebook,
  groupIndicesToCodes,
  groupIndicesToIndices,
  indicesToCodes,
  MAX_INDEX_BITS,
} from './codes.js';
// Losses
export {
  type BsqEntropyOptions,
  type BsqLossOptions,
  type BsqLossTerms,
  bsqEntropy,
  bsqLoss,
  type EntropyMode,
} from './loss.js';
// Quantization (tensors, straight-through)
export { bsqQuantize, codeScale, hardCodes, l2Normalize } from './quantize.js';

// Configured quantizer
export { type BsqConfig, fromOfficialQuantizerCfg, type OfficialQuantizerCfg } from './quantizer.js';
