/**
 * Child-process entry of `runBench`: `node worker.js '<json>'` with `{ id, settings, deviations }`.
 * Measures one variant and prints its `VariantResult` as JSON on stdout; progress goes to stderr.
 */
import { measureVariant } from './variant-run.js';
import type { Settings, VariantId } from './variants.js';

const arg = process.argv[2];
if (!arg) throw new Error('bench worker: expected one JSON argument {id, settings, deviations}');
const { id, settings, deviations } = JSON.parse(arg) as {
  id: VariantId;
  settings: Settings;
  deviations: string[];
};
const result = await measureVariant(id, settings, deviations, (m) => process.stderr.write(`[${id}] ${m}\n`));
process.stdout.write(`${JSON.stringify(result)}\n`);
// The native SGEMM's worker threads and the wasm module keep no work queued: exit without waiting on them.
process.exit(0);
