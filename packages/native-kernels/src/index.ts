// Installation (what @qlip/core calls)

// Tuning and test hooks
export { currentIsa, setIsa, setThreads, supportedIsas } from './isa.js';
export {
  installNativeKernels,
  type NativeKernelsInfo,
  nativeKernelsInstalled,
  uninstallNativeKernels,
} from './kernels.js';
// Addon loading
export { ADDON_PATH, type Isa, loadNative, type NativeAddon, nativeUnavailableReason } from './native.js';
