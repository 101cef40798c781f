/**
 * A/B of native kernel families on the bench-s workloads, interleaved in one process: each round runs every
 * workload once per configuration, back to back, so load swings on a shared machine hit every configuration
 * alike. Then one `tf.profile` per configuration: kernel milliseconds and calls of the train step.
 *
 *   QLIP_NATIVE_THREADS=1 CONFIGS=all,-LAYERNORM WORK=train,tokenize,text ROUNDS=5 \
 *     node --import tsx bench/interleaved-kernels.ts
 *
 * Configurations as in interleaved-train.ts: `all`, `none`, `-A+B` (families A and B off). Prints one line per
 * round on stderr (with the 1-minute load average), medians and ratios to the first configuration on stdout,
 * of wall time and of the process's CPU time (at 1 thread the CPU time is the work done; waiting for a core on
 * a loaded machine inflates wall time only).
 */
import { loadavg } from 'node:os';
import { registerBackendAccelerator, selectBackend } from '@qlip/core';
import { nativeKernelsAccelerator } from '@qlip/native-kernels';
import { median } from '../src/measure.js';
import { BENCH_S } from '../src/preset.js';
import { profileTrainStep } from '../src/profile.js';
import { BenchWorkloads } from '../src/workloads.js';
import { useKernelConfig } from './kernel-configs.js';

const configs = (process.env.CONFIGS ?? 'all,none').split(',');
const work = (process.env.WORK ?? 'train,tokenize,text').split(',');
const rounds = Number(process.env.ROUNDS ?? 5);

registerBackendAccelerator(nativeKernelsAccelerator);
console.error(`ours: ${(await selectBackend('wasm')).detail}`);

const w = new BenchWorkloads(BENCH_S, 0, 1); // batch 32, one tape
const run: Record<string, () => Promise<unknown> | unknown> = {
  train: () => w.trainStep(),
  tokenize: () => w.tokenize(),
  text: () => w.text(),
};
const key = (c: string, k: string) => `${k} ${c}`;
const times = new Map<string, number[]>();
// Process CPU time beside wall time: on a loaded machine, waiting for a core inflates wall time only.
const cpuTimes = new Map<string, number[]>();
for (const c of configs) {
  useKernelConfig(c);
  for (const k of work) await run[k]!(); // warm-up
}
for (let r = 0; r < rounds; r++) {
  // The order flips every round (ABBA): with a load that rises or falls during the run, a fixed order
  // favours whichever configuration goes second.
  for (const c of r % 2 === 0 ? configs : [...configs].reverse()) {
    useKernelConfig(c);
    const line: string[] = [];
    for (const k of work) {
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      await run[k]!();
      const ms = performance.now() - t0;
      const cpu = process.cpuUsage(c0);
      const cpuMs = (cpu.user + cpu.system) / 1000;
      times.set(key(c, k), [...(times.get(key(c, k)) ?? []), ms]);
      cpuTimes.set(key(c, k), [...(cpuTimes.get(key(c, k)) ?? []), cpuMs]);
      line.push(`${k} ${ms.toFixed(0)} ms (cpu ${cpuMs.toFixed(0)})`);
    }
    console.error(`round ${r} ${c}: ${line.join(', ')} | load ${loadavg()[0]!.toFixed(1)}`);
  }
}
w.dispose();
for (const [what, table] of [
  ['wall', times],
  ['cpu', cpuTimes],
] as const) {
  for (const k of work) {
    const base = median(table.get(key(configs[0]!, k))!);
    for (const c of configs) {
      const t = table.get(key(c, k))!;
      const list = t.map((x) => x.toFixed(0)).join(', ');
      const m = median(t);
      console.log(
        `${what.padEnd(4)} ${k.padEnd(9)} ${c.padEnd(16)} median ${m.toFixed(1)} ms  x${(m / base).toFixed(3)}  [${list}]`,
      );
    }
  }
}
if (work.includes('train')) {
  for (const c of configs) {
    useKernelConfig(c);
    const p = await profileTrainStep(BENCH_S, { top: 12 });
    const top = p.kernels.map((k) => `${k.name} ${k.ms}/${k.calls}`).join(', ');
    console.log(
      `profile ${c}: kernel ${p.kernelMs} ms in ${p.kernelCalls} calls, wall ${p.wallMs} ms; ${top}`,
    );
  }
}
console.log(
  `load average at the end: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
process.exit(0);
