// Backends
export {
  BACKEND_CHOICES,
  type BackendAccelerator,
  type BackendChoice,
  type BackendInfo,
  currentBackend,
  registerBackendAccelerator,
  selectBackend,
} from './backend.js';
// Configuration and progress
export {
  type ConfigLayer,
  type ConfigOrigins,
  deepMerge,
  didYouMean,
  type ResolvedConfig,
  readJsonConfig,
  resolveConfig,
  resolveConfigWithOrigins,
} from './config.js';
// Durable writes
export {
  cappedWriteOpener,
  fsyncDir,
  openForWrite,
  setWriteOpener,
  syncAndCheckSize,
  type WriteHandle,
  type WriteOpener,
  writeAll,
  writeFileAtomic,
  writeFileSynced,
} from './durable.js';
// Safe input reading
export {
  DEFAULT_MAX_FILE_BYTES,
  type FileFault,
  faultOf,
  InputFileError,
  readRegularFile,
} from './files.js';
// Images
export { type DecodedImageInfo, type ImageAudit, withImageAudit } from './image/audit.js';
export { decodeMemoryStats, setDecodeMemoryLimit } from './image/budget.js';
export { type DecodeOptions, decodeImage, readImageFile } from './image/decode.js';
export {
  encodePng,
  type GridOptions,
  imageGrid,
  sideBySide,
  writePng,
} from './image/encode.js';
export {
  imageExtensions,
  type ListImagesOptions,
  type ListSkip,
  type ListSkipReason,
  listImages,
} from './image/list.js';
export {
  ALPHA_MODES,
  type AlphaMode,
  CLIP_MEAN,
  CLIP_STD,
  centerCropOffsets,
  clipPreprocessParams,
  cropImage,
  DEFAULT_MAX_PIXELS,
  denormalizeImages,
  type ImagePreprocessParams,
  normalizeImage,
  type RgbImage,
  resizeAndCrop,
  shortestEdgeSize,
  toRgb8,
} from './image/pixels.js';
export {
  type ImageInput,
  type PixelBatch,
  pixelBatchTensor,
  preprocessBatch,
  preprocessImage,
} from './image/preprocess.js';
export { resizeBicubic } from './image/resample.js';
// Output folder lock
export {
  type AcquireOutputLockOptions,
  acquireOutputLock,
  describeLockHolder,
  type LockHolder,
  OUTPUT_LOCK_FILE,
  type OutputLock,
  OutputLockedError,
} from './lock.js';
// NumPy files
export { type NpyInfo, npyHeader, npyInfo, readNpy, writeNpy } from './npy.js';
export type { NpyArray, NpyData, NpyDtype } from './npy-bytes.js';
export { firstLine, type OptionalModule, optionalImport } from './optional-import.js';
export { type ProgressEvent, type ProgressListener, silentProgress } from './progress.js';
// Randomness
export { Rng } from './rng.js';
export {
  bf16ToFloat,
  castFloat,
  f32ToBf16Bits,
  f32ToF16Bits,
  floatToBf16,
  floatToHalf,
  fromBool,
  fromFloat32,
  fromInts,
  halfToFloat,
  isFloatDType,
  toFloat32,
  toFloat64,
  toInt32,
} from './safetensors/convert.js';
export { specMismatch, type TensorSpec } from './safetensors/fits.js';
export { MAX_HEADER_BYTES } from './safetensors/header.js';
// Safetensors
export { SafetensorsReader } from './safetensors/reader.js';
export {
  INDEX_FILE,
  openCheckpoint,
  ShardedReader,
  SINGLE_FILE,
} from './safetensors/sharded.js';
export {
  DTYPE_SIZE,
  DTYPES,
  type DType,
  type HostData,
  type HostTensor,
  type LazyTensor,
  numel,
  type TensorEntry,
  type TensorReader,
  type TensorSet,
  type TensorSource,
} from './safetensors/types.js';
export { writeSafetensors } from './safetensors/writer.js';
// Skipped inputs
export { describeSkips, type SkippedInput, type SkipSummary, SkipTally } from './skips.js';
export { registerWasmTrainingKernels } from './wasm-kernels.js';
