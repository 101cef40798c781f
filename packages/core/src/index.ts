// Backends

export {
  BACKEND_CHOICES,
  type BackendChoice,
  type BackendInfo,
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
export { type ProgressEvent, type ProgressListener, silentProgress } from './progress.js';

// Durable writes

export {
  cappedWriteOpener,
  fsyncDir,
  openForWrite,
  setWriteOpener,
  syncAndCheckSize,
  writeAll,
  writeFileAtomic,
  writeFileSynced,
} from './durable.js';

// Safe input reading

export { DEFAULT_MAX_FILE_BYTES, type FileFault, faultOf, readRegularFile } from './files.js';
export { describeSkips, type SkipSummary, SkipTally } from './skips.js';

// Images

export { type DecodedImageInfo, withImageAudit } from './image/audit.js';
export { decodeMemoryStats, setDecodeMemoryLimit } from './image/budget.js';
export { decodeImage, readImageFile } from './image/decode.js';
export { encodePng, imageGrid, sideBySide, writePng } from './image/encode.js';
export { imageExtensions, type ListSkip, listImages } from './image/list.js';
export {
  type AlphaMode,
  CLIP_MEAN,
  CLIP_STD,
  centerCropOffsets,
  clipPreprocessParams,
  DEFAULT_MAX_PIXELS,
  denormalizeImages,
  type ImagePreprocessParams,
  normalizeImage,
  type RgbImage,
  resizeAndCrop,
  shortestEdgeSize,
  toRgb8,
} from './image/pixels.js';
export { type ImageInput, pixelBatchTensor, preprocessBatch, preprocessImage } from './image/preprocess.js';
export { resizeBicubic } from './image/resample.js';

// Output folder lock

export {
  acquireOutputLock,
  describeLockHolder,
  OUTPUT_LOCK_FILE,
  type OutputLock,
  OutputLockedError,
} from './lock.js';

// NumPy files

export { type NpyInfo, npyHeader, npyInfo, readNpy, writeNpy } from './npy.js';

// Safetensors

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
  toFloat32,
  toFloat64,
  toInt32,
} from './safetensors/convert.js';
export { specMismatch } from './safetensors/fits.js';
export { MAX_HEADER_BYTES } from './safetensors/header.js';
export { SafetensorsReader } from './safetensors/reader.js';
export { INDEX_FILE, openCheckpoint, SINGLE_FILE } from './safetensors/sharded.js';
export {
  DTYPE_SIZE,
  type HostTensor,
  type LazyTensor,
  type TensorReader,
  type TensorSource,
} from './safetensors/types.js';
export { writeSafetensors } from './safetensors/writer.js';

// Randomness

export { Rng } from './rng.js';

// Optional dependencies

export { optionalImport } from './optional-import.js';
