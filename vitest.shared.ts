import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/** Shared vitest settings: tests import workspace packages from source (the `source` export condition). */
export default defineConfig({
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    include: ['test/**/*.test.ts'],
    // What the entry points register (the native wasm kernels), registered before each test file.
    setupFiles: [fileURLToPath(new URL('./packages/test-utils/src/setup.ts', import.meta.url))],
    // Private QLIP_CACHE and HF_HOME for the run: tests never write into the user's ~/.cache.
    globalSetup: [fileURLToPath(new URL('./packages/test-utils/src/cache-setup.ts', import.meta.url))],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
