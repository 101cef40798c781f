// Model
export { type EncodedFeatures, QLIPModel, type TokenIndices } from './qlip-model.js';

// Official config.json
export {
  type DecoderConfigJson,
  type QLIPConfig,
  type QLIPConfigInput,
  type TextConfigJson,
  type VisionConfigJson,
  decoderConfigSchema,
  parseQLIPConfig,
  qlipConfigSchema,
  quantizerCfgSchema,
  readQLIPConfig,
  textConfigSchema,
  visionConfigSchema,
} from './config.js';

// Checkpoint files and parameter lists
export {
  type Checkpoint,
  type CheckpointEntry,
  CONFIG_NAME,
  type F32Source,
  WEIGHTS_INDEX_NAME,
  WEIGHTS_NAME,
  openCheckpoint,
  writeF32Safetensors,
} from './checkpoint.js';
export { checkCheckpoint, loadParams } from './load.js';
export { isIgnoredBuffer, qlipSpecs } from './specs.js';
