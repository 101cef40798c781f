// Parameters: official names, storage layouts, init

// Attention, MLP, blocks
export {
  type AttentionConfig,
  type AttentionOptions,
  attention,
  attentionSpecs,
  causalMask,
  FLOAT32_MIN,
} from './attention.js';
export { type BlockConfig, block, blockSpecs, type EncoderOutput, encoder, encoderSpecs } from './block.js';
// Fused ops: kernel names a backend may register (@qlip/native-kernels does on wasm)
export { FUSED_KERNELS, geluErf, hasKernel } from './fused.js';
// Layers and activations
export {
  ACTIVATIONS,
  type Activation,
  activation,
  geluTanh,
  isActivation,
  layerNorm,
  linear,
  quickGelu,
  silu,
} from './layers.js';
export { type MlpConfig, mlp, mlpSpecs } from './mlp.js';
export {
  disposeParams,
  fromStorage,
  initParams,
  initValues,
  layerNormSpecs,
  linearSpecs,
  ONES,
  type ParamInit,
  type ParamLayout,
  type ParamSpec,
  type Params,
  param,
  storageShape,
  TRUNC_NORMAL_002,
  toStorage,
  ZEROS,
} from './params.js';
// 2-D rotary embedding
export {
  applyRope,
  type RopeOptions,
  type RopeTables,
  type RopeTensors,
  ropeTables,
  ropeTensors,
} from './rope.js';
