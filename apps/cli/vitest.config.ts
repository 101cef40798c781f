import { defineConfig } from 'vitest/config';

/**
 * CLI tests run the built commands through oclif (dist/ and the dependencies' dist/), exactly as users
 * do, so unlike the libraries they do not resolve workspace packages from source.
 */
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['../../packages/test-utils/src/cache-setup.ts'],
    // What the entry points register, and an initialised backend for tensors a test makes itself.
    setupFiles: ['../../packages/test-utils/src/setup.ts'],
    testTimeout: 300_000,
    hookTimeout: 300_000,
    pool: 'forks',
    // oclif's runCommand captures process.stdout.write; vitest's console interception would bypass it.
    disableConsoleIntercept: true,
  },
});
