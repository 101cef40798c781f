// Backends
export {
  BACKEND_CHOICES,
  type BackendChoice,
  type BackendInfo,
  type BackendAccelerator,
  currentBackend,
  registerBackendAccelerator,
  selectBackend,
} from './backend.js';
export { registerWasmTrainingKernels } from './wasm-kernels.js';

// Configuration and progress
export { type ConfigLayer, deepMerge, readJsonConfig, resolveConfig } from './config.js';
export { type ProgressEvent, type ProgressListener, silentProgress } from './progress.js';

// NumPy files
export { type NpyArray, type NpyData, type NpyDtype, npyHeader, readNpy, writeNpy } from './npy.js';

// Randomness
export { Rng } from './rng.js';

// Safetensors
export { SafetensorsReader } from './safetensors/reader.js';
export { halfToFloat, toFloat32, toInt32 } from './safetensors/convert.js';
export { DTYPES, DTYPE_SIZE, type DType, type HostData, type HostTensor, type TensorEntry } from './safetensors/types.js';
