// Model

// Checkpoint files and parameter lists
export {
  type Checkpoint,
  type CheckpointEntry,
  CONFIG_NAME,
  type F32Source,
  openCheckpoint,
  WEIGHTS_INDEX_NAME,
  WEIGHTS_NAME,
  writeF32Safetensors,
} from './checkpoint.js';

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
export { type EncodedFeatures, QLIPModel, type TokenIndices } from './qlip-model.js';
export { isIgnoredBuffer, qlipSpecs } from './specs.js';
