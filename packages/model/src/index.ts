// Model

// Checkpoint checks and parameter lists (weights I/O itself: openCheckpoint / writeSafetensors in @qlip/core)
export { CONFIG_NAME } from './checkpoint.js';

// Official config.json
export {
  type DecoderConfigJson,
  decoderConfigSchema,
  parseQLIPConfig,
  type QLIPConfig,
  type QLIPConfigInput,
  qlipConfigSchema,
  quantizerCfgSchema,
  readQLIPConfig,
  type TextConfigJson,
  textConfigSchema,
  type VisionConfigJson,
  visionConfigSchema,
} from './config.js';
export { checkCheckpoint, loadParams } from './load.js';
export { type EncodedFeatures, QLIPModel, type Stage1Outputs, type TokenIndices } from './qlip-model.js';
export { isIgnoredBuffer, qlipSpecs } from './specs.js';
