#!/usr/bin/env node
import { flush, handle, run } from '@oclif/core';
import { handleCliError } from '../dist/lib/errors.js';

// `pnpm qlip ...` runs from the repository root; INIT_CWD is where the user typed it, so relative paths
// mean what they meant (npm_lifecycle_event says it is the root `qlip` script, not some other script).
if (process.env.npm_lifecycle_event === 'qlip' && process.env.INIT_CWD) process.chdir(process.env.INIT_CWD);

try {
  await run(process.argv.slice(2), import.meta.url);
  await flush();
} catch (err) {
  await handleCliError(err, handle);
}
