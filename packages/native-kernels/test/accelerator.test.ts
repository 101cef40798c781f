import { registerBackendAccelerator, selectBackend } from '@qlip/core';
import { describe, expect, it } from 'vitest';
import { loadNative, nativeKernelsAccelerator, nativeKernelsInstalled } from '../src/index.js';

describe('nativeKernelsAccelerator (registered with @qlip/core by entry points)', () => {
  it('wasm installs the native SGEMM kernels when the addon is built, and says so in detail', async () => {
    registerBackendAccelerator(nativeKernelsAccelerator);
    const w = await selectBackend('wasm');
    if (loadNative()) {
      expect(w.detail).toMatch(
        /^WebAssembly \(single thread\), native SGEMM (avx512|avx2|portable|openblas [\d.]+ \(\w+\)), \d+ threads?$/,
      );
      expect(nativeKernelsInstalled()).toBe(true);
    } else {
      expect(w.detail).toBe('WebAssembly (single thread)');
    }
  });

  it('leaves other backends alone', async () => {
    expect(await nativeKernelsAccelerator('cpu')).toBeUndefined();
    expect(await nativeKernelsAccelerator('tensorflow')).toBeUndefined();
  });
});
