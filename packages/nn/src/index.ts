// Parameters: official names, storage layouts, init

export {
  disposeParams,
  fromStorage,
  initParams,
  layerNormSpecs,
  linearSpecs,
  type ParamSpec,
  type Params,
  param,
  storageShape,
  TRUNC_NORMAL_002,
  toStorage,
  ZEROS,
} from './params.js';

// Layers and activations

export { ACTIVATIONS, activation, layerNorm, linear } from './layers.js';
export { mlp } from './mlp.js';

// Fused ops: kernel names a backend may register (@qlip/native-kernels does on wasm)

export { FUSED_KERNELS, geluErf, hasKernel } from './fused.js';

// Attention and transformer blocks

export { type AttentionConfig, attention, attentionSpecs } from './attention.js';
export { type BlockConfig, blockSpecs, encoder, encoderSpecs } from './block.js';
export { causalMask, FLOAT32_MIN, type SdpaOptions, scaledDotProductAttention } from './sdpa.js';

// 2-D rotary embedding

export { applyRope, ropeTables, ropeTensors } from './rope.js';
