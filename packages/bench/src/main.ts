/**
 * `pnpm bench`: the full bench-s benchmark, one JSON object on stdout, progress on stderr. The same JSON is
 * written to `.bench-out/bench-s.json` at the repository root (or `$QLIP_BENCH_OUT`), because turbo prefixes
 * every stdout line with the task name when `pnpm bench` runs all packages.
 * Environment: QLIP_BENCH_QUICK=1 for the tiny smoke model, QLIP_BENCH_BACKEND=auto|wasm|cpu|tensorflow,
 * QLIP_BENCH_REPS=N.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runBench } from './run.js';

const reps = process.env.QLIP_BENCH_REPS;
const result = await runBench({
  backend: process.env.QLIP_BENCH_BACKEND ?? 'auto',
  quick: process.env.QLIP_BENCH_QUICK === '1',
  reps: reps ? Number(reps) : undefined,
  onProgress: (m) => process.stderr.write(`${m}\n`),
});
const json = `${JSON.stringify(result, null, 2)}\n`;
const out =
  process.env.QLIP_BENCH_OUT ?? fileURLToPath(new URL('../../../.bench-out/bench-s.json', import.meta.url));
await mkdir(dirname(out), { recursive: true });
await writeFile(out, json);
process.stderr.write(`bench-s result written to ${out}\n`);
process.stdout.write(json);
