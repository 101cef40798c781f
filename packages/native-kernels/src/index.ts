// Installation (nativeKernelsAccelerator is what entry points register with @qlip/core) and test hooks

// Tuning
export { currentIsa, setIsa, setThreads, supportedIsas } from './isa.js';
export {
  installNativeKernels,
  type NativeKernelsInfo,
  nativeKernelsAccelerator,
  nativeKernelsInstalled,
  uninstallNativeKernels,
} from './kernels.js';
// Addon loading
export { ADDON_PATH, type Isa, loadNative, type NativeAddon, nativeUnavailableReason } from './native.js';
