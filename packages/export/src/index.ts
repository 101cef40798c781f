// Export a model folder and check the files against the model (what `qlip export onnx|safetensors` run)

export {
  exportFailures,
  exportOnnxChecked,
  exportSafetensorsChecked,
  type OnnxExportReport,
  type SafetensorsExportReport,
  type UnifiedOnnxExportReport,
} from './checked.js';

// ONNX export (graphs written with onnx-proto, opset 17, dynamic batch)

export { exportOnnx, type OnnxExportOptions } from './onnx/export.js';
export {
  ONNX_ATTENTIONS,
  ONNX_PRECISIONS,
  type OnnxAttention,
  type OnnxPrecision,
  OPSET,
} from './onnx/graph.js';
export { BATCH } from './onnx/towers.js';

// The unified model as step-by-step graphs (embeddings, decoder with KV cache, heads)

export { exportUnifiedOnnx, UNIFIED_ONNX_GRAPHS, type UnifiedOnnxExportOptions } from './onnx/unified.js';

// Verification against the tfjs runtime and the ONNX checker

export {
  checkOnnxModels,
  findOnnxPython,
  verificationIds,
  verificationPixels,
  verifyOnnxExport,
} from './onnx/verify.js';
export { verifyUnifiedOnnx } from './onnx/verify-unified.js';

// ONNX Runtime inference and the model runtime over it

export {
  AGREEMENT_IMAGES,
  type OnnxModelRuntime,
  type OnnxRuntimeOptions,
  onnxRuntime,
  resolveOnnxDir,
} from './runtime/model-runtime.js';
export { OnnxQLIP, type OnnxQLIPOptions, TOKENIZE_SESSION_OPTIONS } from './runtime/onnx-qlip.js';
export { OnnxUnified } from './runtime/onnx-unified.js';

// ONNX exports made once per model into a cache (never into the model folder), for serving and --runtime auto

export {
  defaultCacheDir,
  type PreparedOnnx,
  type PrepareOnnxOptions,
  prepareOnnx,
  prepareUnifiedOnnx,
} from './runtime/onnx-cache.js';

// Hugging Face safetensors layout

export { exportSafetensors, HF_FILES, verifySafetensorsExport } from './safetensors.js';
