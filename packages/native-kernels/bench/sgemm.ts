/**
 * Our SGEMM vs the system OpenBLAS (and optionally a previous build of the addon) on bench-s's products,
 * interleaved round by round in one process so load swings hit every side alike; direct addon calls on one
 * Float32Array (no tfjs), median GFLOP/s per side. At 1 thread the time is the process's CPU time (user +
 * system), which a shared machine's other processes do not inflate; with more threads it is wall time.
 * Prints one JSON object.
 *
 *   THREADS=1 ROUNDS=9 [ISA=avx2] [OLD_ADDON=/tmp/qlip_native_old.node] [ONLY=attention] \
 *     node --import tsx bench/sgemm.ts
 */

import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import { type Isa, loadNative, type NativeAddon, P } from '../src/native.js';

const threads = Number(process.env.THREADS ?? 1);
const rounds = Number(process.env.ROUNDS ?? 9);

interface Case {
  name: string;
  batch: number;
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
}

// bench-s: 2048 tokens (batch 32 x 64), width 256, MLP 1024, 4 heads of 64 (65 tokens with the class token).
const CASES: Case[] = [
  { name: 'qkv-ish [2048,256]x[256,256]', batch: 1, M: 2048, N: 256, K: 256 },
  { name: 'fc1 [2048,256]x[256,1024]', batch: 1, M: 2048, N: 1024, K: 256 },
  { name: 'fc2 [2048,1024]x[1024,256]', batch: 1, M: 2048, N: 256, K: 1024 },
  { name: 'dX fc1 [2048,1024]x[256,1024]^T', batch: 1, M: 2048, N: 256, K: 1024, transB: true },
  { name: 'dW [2048,256]^T x[2048,256]', batch: 1, M: 256, N: 256, K: 2048, transA: true },
  { name: 'dW fc1 [2048,256]^T x[2048,1024]', batch: 1, M: 256, N: 1024, K: 2048, transA: true },
  { name: 'dW fc2 [2048,1024]^T x[2048,256]', batch: 1, M: 1024, N: 256, K: 2048, transA: true },
  { name: 'attention [128,65,64]x[128,64,65]', batch: 128, M: 65, N: 65, K: 64 },
  { name: 'attention p.v [128,65,65]x[128,65,64]', batch: 128, M: 65, N: 64, K: 65 },
  { name: 'attention q.k^T [128,65,64]x[128,65,64]^T', batch: 128, M: 65, N: 65, K: 64, transB: true },
  { name: 'attention dV p^T.dO [128,65,65]^T x[128,65,64]', batch: 128, M: 65, N: 64, K: 65, transA: true },
  { name: '1024^3', batch: 1, M: 1024, N: 1024, K: 1024 },
];

const addon = loadNative();
if (!addon) throw new Error('bench/sgemm.ts: the native addon is not built (pnpm build:native)');
const blas = addon.blasLoad(process.env.QLIP_BLAS_LIB ?? '');
const old = process.env.OLD_ADDON
  ? (createRequire(import.meta.url)(process.env.OLD_ADDON) as NativeAddon)
  : undefined;

for (const a of [addon, old]) {
  if (a && process.env.ISA && !a.setIsa(process.env.ISA as Isa))
    throw new Error(`this CPU lacks ${process.env.ISA}`);
}

type Side = { name: string; run: (params: Float64Array) => void };
const call = (a: NativeAddon, blasOn: boolean) => (params: Float64Array) => {
  if (a === addon) a.blasEnable(blasOn);
  a.setThreads(threads);
  a.gemm(heap, params);
};
const sides: Side[] = [{ name: 'ours', run: call(addon, false) }];
if (old) sides.unshift({ name: 'oursOld', run: call(old, false) });
if (blas.loaded) sides.push({ name: 'openblas', run: call(addon, true) });

const biggest = Math.max(...CASES.map((c) => c.batch * (c.M * c.K + c.K * c.N + c.M * c.N)));
const heap = new Float32Array(biggest);
for (let i = 0; i < heap.length; i++) heap[i] = Math.sin(i * 0.37);

function paramsFor(c: Case): Float64Array {
  const p = new Float64Array(P.count);
  p[P.aOff] = 0;
  p[P.bOff] = c.batch * c.M * c.K;
  p[P.cOff] = c.batch * (c.M * c.K + c.K * c.N);
  [p[P.batch], p[P.M], p[P.N], p[P.K]] = [c.batch, c.M, c.N, c.K];
  p[P.transA] = c.transA ? 1 : 0;
  p[P.transB] = c.transB ? 1 : 0;
  p[P.aItems] = c.batch;
  p[P.bItems] = c.batch;
  p[P.biasOff] = -1;
  p[P.preluOff] = -1;
  return p;
}

/** Milliseconds: process CPU time at 1 thread (robust to other processes' load), else wall time. */
const clock =
  threads === 1
    ? () => {
        const u = process.cpuUsage();
        return (u.user + u.system) / 1000;
      }
    : () => performance.now();

const median = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
const only = new RegExp(process.env.ONLY ?? '');
const results = CASES.filter((c) => only.test(c.name)).map((c) => {
  const params = paramsFor(c);
  const flops = 2 * c.batch * c.M * c.N * c.K;
  const samples = new Map(sides.map((s) => [s.name, [] as number[]]));
  for (const s of sides) s.run(params); // warm-up
  for (let r = 0; r < rounds; r++) {
    for (const s of sides) {
      const t0 = clock();
      s.run(params);
      samples.get(s.name)!.push(flops / ((clock() - t0) * 1e6));
    }
  }
  const gflops = Object.fromEntries(
    sides.map((s) => [s.name, Number(median(samples.get(s.name)!).toFixed(1))]),
  );
  console.error(`${c.name}: ${JSON.stringify(gflops)}`);
  return { case: c.name, gflops };
});
console.log(
  JSON.stringify({
    threads,
    rounds,
    time: threads === 1 ? 'process CPU time' : 'wall time',
    isa: addon.getIsa(),
    openblas: blas.loaded ? blas.config : `not loaded: ${blas.error}`,
    loadavg: loadavg().map((x) => Number(x.toFixed(2))),
    results,
  }),
);
