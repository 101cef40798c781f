/**
 * `pnpm bench`: the full bench-s benchmark, one JSON object on stdout, progress on stderr.
 * Environment: QLIP_BENCH_QUICK=1 for the tiny smoke model, QLIP_BENCH_BACKEND=auto|wasm|cpu|tensorflow,
 * QLIP_BENCH_REPS=N.
 */
import { runBench } from './run.js';

const reps = process.env.QLIP_BENCH_REPS;
const result = await runBench({
  backend: process.env.QLIP_BENCH_BACKEND ?? 'auto',
  quick: process.env.QLIP_BENCH_QUICK === '1',
  reps: reps ? Number(reps) : undefined,
  onProgress: (m) => process.stderr.write(`${m}\n`),
});
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
