// The browser-safe part of @qlip/unified (no tfjs, no Node built-ins): the vocabulary over a CLIP BPE
// tokenizer the page builds, the host sampling code every runtime shares (same seeded draws, same greedy
// choice as the CLI), and a StepDecoder over onnxruntime-web sessions of the unified ONNX graphs.
export type { UnifiedConfig } from './config.js';
export { onnxStepDecoder, type UnifiedOnnxShape } from './onnx-decoder.js';
export { captionPrefixes, greedyText, type SamplingOptions, sampleImages } from './sampling.js';
export { RestrictedVocab } from './text-vocab.js';
