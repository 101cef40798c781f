/**
 * Train-step ratio to PyTorch on a shared machine, interleaved step by step: each round runs one PyTorch
 * train step (torch_peer.py's own BenchS model, data and AdamW, through peer-steps.py in a child process) and
 * one of ours per configuration, back to back, so load swings hit both sides alike.
 *
 *   QLIP_NATIVE_THREADS=1 CONFIGS=all,none,-GELU ROUNDS=4 node --import tsx bench/interleaved-train.ts
 *
 * A configuration switches native kernel families off by reinstalling them: `all`, `none` (every family
 * of kernel-configs.ts off: SGEMM, Transpose and Identity stay native), `-GELU+ADAMW` (those off), `-BLAS` (our own SGEMM
 * instead of the system OpenBLAS: `QLIP_NATIVE_BLAS=0`). `$QLIP_TORCH_PEER` and
 * `$QLIP_PYTHON` as for the bench. Prints one line per round on stderr, medians and ratios on stdout: wall
 * time, and CPU time (process user + system), which other processes on a loaded machine do not inflate and
 * which equals the work done when everything runs on 1 thread.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { registerBackendAccelerator, selectBackend } from '@qlip/core';
import { nativeKernelsAccelerator } from '@qlip/native-kernels';
import { median } from '../src/measure.js';
import { DEFAULT_PEER_SCRIPT } from '../src/peer.js';
import { BENCH_S } from '../src/preset.js';
import { BenchWorkloads } from '../src/workloads.js';
import { useKernelConfig } from './kernel-configs.js';

const threads = process.env.QLIP_NATIVE_THREADS ?? '1';
const configs = (process.env.CONFIGS ?? 'all,none').split(',');
const rounds = Number(process.env.ROUNDS ?? 3);

const python = process.env.QLIP_PYTHON ?? '/usr/bin/python3';
const server = fileURLToPath(new URL('./peer-steps.py', import.meta.url));
const script = process.env.QLIP_TORCH_PEER ?? DEFAULT_PEER_SCRIPT;
if (!existsSync(script)) throw new Error(`${script} does not exist (set QLIP_TORCH_PEER)`);
const peer = spawn(python, [server, script, threads], { stdio: ['pipe', 'pipe', 'inherit'] });
const lines = createInterface({ input: peer.stdout })[Symbol.asyncIterator]();
const next = async (): Promise<{ ms: number } & Record<string, unknown>> => {
  const line = await lines.next();
  if (line.done) throw new Error(`${server} ended early (does ${python} have torch and OpenBLAS?)`);
  return JSON.parse(line.value);
};
const peerStep = async (): Promise<{ ms: number; cpuMs: number }> => {
  peer.stdin.write('step\n');
  const r = await next();
  return { ms: r.ms, cpuMs: Number(r.cpuMs) };
};
const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
console.error('pytorch', JSON.stringify(await next()));

registerBackendAccelerator(nativeKernelsAccelerator);
const info = await selectBackend('wasm');
console.error(`ours: ${info.detail}`);

const w = new BenchWorkloads(BENCH_S, 0, 1); // batch 32, one tape
const times = new Map<string, number[]>([...configs, 'pytorch'].map((c) => [c, []]));
const cpu = new Map<string, number[]>([...configs, 'pytorch'].map((c) => [c, []]));
await peerStep(); // warm-up
for (const c of configs) {
  useKernelConfig(c);
  w.trainStep(); // warm-up
}
for (let r = 0; r < rounds; r++) {
  for (const c of configs) {
    useKernelConfig(c);
    const [t0, c0] = [performance.now(), cpuMs()];
    w.trainStep();
    const [ms, cms] = [performance.now() - t0, cpuMs() - c0];
    const p = await peerStep();
    times.get(c)!.push(ms);
    times.get('pytorch')!.push(p.ms);
    cpu.get(c)!.push(cms);
    cpu.get('pytorch')!.push(p.cpuMs);
    console.error(
      `round ${r} ${c}: ${ms.toFixed(0)} ms (cpu ${cms.toFixed(0)}) | pytorch ${p.ms.toFixed(0)} ms (cpu ${p.cpuMs.toFixed(0)}) | load ${loadavg()[0]!.toFixed(1)}`,
    );
  }
}
peer.stdin.end();
const list = (a: number[]): string => a.map((x) => x.toFixed(0)).join(', ');
const pt = median(times.get('pytorch')!);
const pc = median(cpu.get('pytorch')!);
console.log(
  `threads ${threads}: pytorch median ${pt.toFixed(0)} ms [${list(times.get('pytorch')!)}], cpu ${pc.toFixed(0)} ms [${list(cpu.get('pytorch')!)}]`,
);
for (const c of configs) {
  const [t, u] = [times.get(c)!, cpu.get(c)!];
  console.log(
    `${c.padEnd(16)} median ${median(t).toFixed(0)} ms  ratio ${(median(t) / pt).toFixed(2)}  [${list(t)}]; cpu ${median(u).toFixed(0)} ms  ratio ${(median(u) / pc).toFixed(2)}  [${list(u)}]`,
  );
}
w.dispose();
process.exit(0);
