// vitest setup of every workspace package (vitest.shared.js): tests run with what the entry points
// register, so wasm tests use the native SGEMM when its addon is built (QLIP_NATIVE=0 turns it off).
import { registerBackendAccelerator, selectBackend } from '@qlip/core';
import { nativeKernelsAccelerator } from '@qlip/native-kernels';

registerBackendAccelerator(nativeKernelsAccelerator);
// Importing the native kernels registers tfjs's wasm backend (the highest priority) without initialising
// it, so a tensor made at collection time, before a test selects its backend, would throw. Start each test
// file on an initialised backend, as an entry point does; tests that need another one select it.
await selectBackend('wasm');
