// Parameters: official names, storage layouts, init
export {
  type ParamInit,
  type ParamLayout,
  type ParamSpec,
  type Params,
  ONES,
  TRUNC_NORMAL_002,
  ZEROS,
  disposeParams,
  fromStorage,
  initParams,
  initValues,
  layerNormSpecs,
  linearSpecs,
  param,
  storageShape,
  toStorage,
} from './params.js';

// Layers and activations
export {
  ACTIVATIONS,
  type Activation,
  activation,
  geluErf,
  geluTanh,
  isActivation,
  layerNorm,
  linear,
  quickGelu,
  silu,
} from './layers.js';

// 2-D rotary embedding
export { type RopeOptions, type RopeTables, type RopeTensors, applyRope, ropeTables, ropeTensors } from './rope.js';

// Attention, MLP, blocks
export {
  type AttentionConfig,
  type AttentionOptions,
  FLOAT32_MIN,
  attention,
  attentionSpecs,
  causalMask,
} from './attention.js';
export { type MlpConfig, mlp, mlpSpecs } from './mlp.js';
export { type BlockConfig, type EncoderOutput, block, blockSpecs, encoder, encoderSpecs } from './block.js';
