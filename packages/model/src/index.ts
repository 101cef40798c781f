// The model

export { type EncodedFeatures, QLIPModel, type Stage1Outputs, type TokenIndices } from './qlip-model.js';

// Official config.json

export {
  parseQLIPConfig,
  type QLIPConfig,
  type QLIPConfigInput,
  qlipConfigSchema,
  readQLIPConfig,
} from './config.js';

// Checkpoint files and parameter lists (weights I/O itself: openCheckpoint / writeSafetensors in @qlip/core)

export { CONFIG_NAME } from './checkpoint.js';
export { loadParams } from './load.js';
export { qlipSpecs } from './specs.js';
