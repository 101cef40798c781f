// Quantization (tensors, straight-through)

export { bsqQuantize, hardCodes, l2Normalize } from './quantize.js';
export { fromOfficialQuantizerCfg } from './quantizer.js';

// Losses

export { type BsqLossOptions, bsqEntropy, bsqLoss } from './loss.js';

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
