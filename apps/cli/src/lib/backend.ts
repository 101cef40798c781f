import { type BackendInfo, registerBackendAccelerator, selectBackend } from '@qlip/core';
import { nativeKernelsAccelerator } from '@qlip/native-kernels';

/**
 * The CLI's backend selection. As an entry point the CLI hands core the native wasm kernels (core imports
 * no package of ours); `QLIP_NATIVE=0` keeps the stock kernels.
 */
export function selectCliBackend(requested: string | undefined): Promise<BackendInfo> {
  registerBackendAccelerator(nativeKernelsAccelerator);
  return selectBackend(requested);
}
