/**
 * A/B of native kernel families on the bench-s workloads, interleaved in one process: each round runs every
 * workload once per configuration, back to back, so load swings on a shared machine hit every configuration
 * alike. Then one `tf.profile` per configuration: kernel milliseconds and calls of the train step.
 *
 *   QLIP_NATIVE_THREADS=1 CONFIGS=all,-LAYERNORM WORK=train,tokenize,text ROUNDS=5 \
 *     node --import tsx bench/interleaved-kernels.ts
 *
 * Configurations as in interleaved-train.ts: `all`, `none`, `-A+B` (families A and B off). Prints one line per
 * round on stderr (with the 1-minute load average), medians and ratios to the first configuration on stdout.
 */
import { loadavg } from 'node:os';
import { registerBackendAccelerator, selectBackend } from '@qlip/core';
import { nativeKernelsAccelerator } from '@qlip/native-kernels';
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
      await run[k]!();
      const ms = performance.now() - t0;
      times.set(key(c, k), [...(times.get(key(c, k)) ?? []), ms]);
      line.push(`${k} ${ms.toFixed(0)} ms`);
    }
    console.error(`round ${r} ${c}: ${line.join(', ')} | load ${loadavg()[0]!.toFixed(1)}`);
  }
}
w.dispose();
const median = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
for (const k of work) {
  const base = median(times.get(key(configs[0]!, k))!);
  for (const c of configs) {
    const t = times.get(key(c, k))!;
    const list = t.map((x) => x.toFixed(0)).join(', ');
    console.log(
      `${k.padEnd(9)} ${c.padEnd(16)} median ${median(t).toFixed(1)} ms  x${(median(t) / base).toFixed(3)}  [${list}]`,
    );
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
