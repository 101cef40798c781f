// Installation (nativeKernelsAccelerator is what entry points register with @qlip/core) and test hooks

export {
  installNativeKernels,
  nativeKernelsAccelerator,
  nativeKernelsInstalled,
  uninstallNativeKernels,
} from './kernels.js';

// Tuning

export { currentIsa, setIsa, setThreads, supportedIsas } from './isa.js';

// Addon loading

export { type Isa, loadNative, nativeUnavailableReason } from './native.js';
