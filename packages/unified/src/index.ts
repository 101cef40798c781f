// Model: config.json schema, parameters, forward with a KV cache

export { headShape, MODEL_TYPE, type UnifiedConfig } from './config.js';
export { blockConfig, UnifiedModel } from './model.js';

// Text vocabulary and sequence format

export { UnifiedVocab } from './vocab.js';

// Inference on a loaded model and its visual tokenizer

export {
  captionFiles,
  complete,
  type GenerateOptions,
  generate,
  loadUnified,
  type UnifiedPipeline,
  writeGenerated,
} from './infer.js';

// Sampling (tfjs here, ONNX Runtime sessions in the page)

export { onnxStepDecoder } from './onnx-decoder.js';
export { tfjsDecoder } from './sample.js';
export { captionPrefixes, greedyText, type StepDecoder, sampleImages, stepInputs } from './sampling.js';

// Training

export { trainUnified, type UnifiedTrainOptions, type UnifiedTrainResult } from './train.js';
export {
  resolveUnifiedConfig,
  UNIFIED_PRESETS,
  unifiedCheckpointLayer,
  unifiedPresetLayer,
} from './train-config.js';

// Evaluation

export {
  type CaptionEvalResult,
  evaluateCaptioning,
  evaluateGeneration,
  type GenerationEvalResult,
} from './evaluate.js';
