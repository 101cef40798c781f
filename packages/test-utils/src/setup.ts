// vitest setup of every workspace package (vitest.shared.js): tests run with what the entry points
// register, so wasm tests use the native SGEMM when its addon is built (QLIP_NATIVE=0 turns it off).
import { registerBackendAccelerator } from '@qlip/core';
import { nativeKernelsAccelerator } from '@qlip/native-kernels';

registerBackendAccelerator(nativeKernelsAccelerator);
