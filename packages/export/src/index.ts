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
export {
  DEFAULT_EXTERNAL_THRESHOLD,
  exportOnnx,
  ONNX_GRAPHS,
  ONNX_MANIFEST,
  type OnnxExportOptions,
  type OnnxExportResult,
  type OnnxGraphName,
  type OnnxGraphReport,
  type OnnxManifest,
} from './onnx/export.js';
export { IR_VERSION, OPSET } from './onnx/graph.js';
export { BATCH, IO, MAX_FLAT_BITS } from './onnx/towers.js';
// The unified model as step-by-step graphs (embeddings, decoder with KV cache, heads)
export {
  exportUnifiedOnnx,
  UNIFIED_ONNX_GRAPHS,
  UNIFIED_ONNX_MANIFEST,
  type UnifiedOnnxExportOptions,
  type UnifiedOnnxExportResult,
  type UnifiedOnnxGraph,
  type UnifiedOnnxManifest,
} from './onnx/unified.js';
// Verification against the tfjs runtime and the ONNX checker
export {
  checkOnnxModels,
  findOnnxPython,
  type OnnxCheckerResult,
  type OnnxVerification,
  VERIFY_TOLERANCE,
  verificationIds,
  verificationPixels,
  verifyOnnxExport,
} from './onnx/verify.js';
export { type UnifiedOnnxVerification, verifyUnifiedOnnx } from './onnx/verify-unified.js';
export {
  ONNX_SUBDIR,
  type OnnxModelRuntime,
  onnxRuntime,
  resolveOnnxDir,
} from './runtime/model-runtime.js';
// ONNX exports made once per model into a cache (never into the model folder), for serving and --runtime auto
export {
  defaultCacheDir,
  type PreparedOnnx,
  type PreparedUnifiedOnnx,
  type PrepareOnnxOptions,
  prepareOnnx,
  prepareUnifiedOnnx,
} from './runtime/onnx-cache.js';
// ONNX Runtime inference
export {
  type HostFloat,
  OnnxQLIP,
  type OnnxQLIPOptions,
  type OnnxTokenIndices,
  TOKENIZE_SESSION_OPTIONS,
} from './runtime/onnx-qlip.js';
export { OnnxUnified } from './runtime/onnx-unified.js';
// Hugging Face safetensors layout
export {
  exportSafetensors,
  HF_FILES,
  hfConfig,
  modelCard,
  preprocessorConfig,
  type SafetensorsExportResult,
  type SafetensorsVerification,
  verifySafetensorsExport,
  type WeightDType,
} from './safetensors.js';
// Atomic output
export { type WrittenFile, writeStaged } from './staging.js';
