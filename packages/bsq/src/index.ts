// Host-side bit packing
export {
  MAX_INDEX_BITS,
  codesToGroupIndices,
  codesToIndices,
  groupCodebook,
  groupIndicesToCodes,
  groupIndicesToIndices,
  indicesToCodes,
} from './codes.js';

// Quantization (tensors, straight-through)
export { bsqQuantize, codeScale, hardCodes, l2Normalize } from './quantize.js';

// Losses
export {
  type BsqEntropyOptions,
  type BsqLossOptions,
  type BsqLossTerms,
  type EntropyMode,
  bsqEntropy,
  bsqLoss,
} from './loss.js';

// Configured quantizer
export {
  type BsqConfig,
  type BsqOutput,
  type OfficialQuantizerCfg,
  BinarySphericalQuantizer,
  fromOfficialQuantizerCfg,
} from './quantizer.js';
