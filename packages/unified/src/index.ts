// Model: config.json schema, parameters, forward with a KV cache
export {
  headShape,
  type ImageHead,
  MODEL_TYPE,
  parseUnifiedConfig,
  type UnifiedConfig,
  type UnifiedConfigInput,
} from './config.js';
// Data and training
export { buildTokenCache, loadTokenCorpus, type TokenCorpus } from './data.js';
export {
  type CaptionEvalOptions,
  type CaptionEvalResult,
  evaluateCaptioning,
  evaluateGeneration,
  type GenerationEvalOptions,
  type GenerationEvalResult,
} from './evaluate.js';
// Inference on a loaded model + tokenizer
export {
  captionCodes,
  captionFiles,
  complete,
  decodeCodes,
  encodePixels,
  type Generated,
  type GenerateOptions,
  generate,
  loadUnified,
  type UnifiedPipeline,
  writeGenerated,
} from './infer.js';
export { bleu, captionWords, ciderD } from './metrics.js';
export {
  blockConfig,
  CONFIG_FILE,
  type LayerCache,
  type StepInputs,
  UnifiedModel,
  unifiedSpecs,
} from './model.js';
export { onnxStepDecoder } from './onnx-decoder.js';
// Sampling
export { DecodeSession, tfjsDecoder } from './sample.js';
export {
  captionPrefixes,
  greedyText,
  type SamplingOptions,
  type StepDecoder,
  sampleImages,
  sampleLogits,
  stepInputs,
} from './sampling.js';
export {
  buildSequence,
  type Element,
  type Example,
  packSequences,
  type SequenceBatch,
  type Task,
} from './sequence.js';
export {
  applyAliases,
  resolveTokenizerDir,
  trainUnified,
  type UnifiedTrainOptions,
  type UnifiedTrainResult,
} from './train.js';
export {
  resolveUnifiedConfig,
  UNIFIED_PRESETS,
  type UnifiedTrainConfig,
  UnifiedTrainConfigSchema,
  unifiedCheckpointLayer,
  unifiedPresetLayer,
} from './train-config.js';
// Text vocabulary and sequence format
export { BOI, BOS, EOI, EOS, PAD, SPECIALS, UNK, UnifiedVocab } from './vocab.js';
