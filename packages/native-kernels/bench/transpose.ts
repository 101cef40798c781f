/**
 * Stock tfjs wasm Transpose vs the native one: GB/s moved (read + write) for attention head split/merge,
 * a 2-D weight transpose and a patchify permutation. Prints one JSON object. Run: `pnpm bench`.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { installNativeKernels, setThreads, uninstallNativeKernels } from '../src/index.js';

const quick = process.env.QLIP_BENCH_QUICK === '1';
const [B, T, H, D] = [32, 65, 4, 64]; // batch, tokens (64 patches + cls), heads, head width

const CASES: { name: string; shape: number[]; perm: number[] }[] = [
  { name: 'heads split [B,T,H,D]->[B,H,T,D]', shape: [B, T, H, D], perm: [0, 2, 1, 3] },
  { name: 'qkv split [B,T,3,H,D]->[3,B,H,T,D]', shape: [B, T, 3, H, D], perm: [2, 0, 3, 1, 4] },
  { name: 'keys^T [B,H,T,D]->[B,H,D,T]', shape: [B, H, T, D], perm: [0, 1, 3, 2] },
  { name: '2-D [256,1024]->[1024,256]', shape: [256, 1024], perm: [1, 0] },
  {
    name: 'patchify [B,8,16,8,16,3]->[B,8,8,16,16,3]',
    shape: [B, 8, 16, 8, 16, 3],
    perm: [0, 1, 3, 2, 4, 5],
  },
];

function bestMs(fn: () => void, reps: number): number {
  fn();
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

function gbps(shape: number[], perm: number[], reps: number): number {
  const x = tf.randomNormal(shape);
  const ms = bestMs(() => tf.transpose(x, perm).dispose(), reps);
  x.dispose();
  const bytes = 2 * 4 * shape.reduce((a, c) => a * c, 1);
  return Number((bytes / (ms * 1e6)).toFixed(2));
}

async function main(): Promise<void> {
  tf.env().set('PROD', true);
  await tf.setBackend('wasm');
  await tf.ready();
  const reps = quick ? 3 : 10;
  uninstallNativeKernels();
  const stock = CASES.map((c) => gbps(c.shape, c.perm, reps));
  const info = installNativeKernels();
  if (!info) throw new Error('bench/transpose.ts: the native addon is not built (run pnpm build:native)');
  const native = CASES.map((c) => gbps(c.shape, c.perm, reps));
  setThreads(1);
  const native1 = CASES.map((c) => gbps(c.shape, c.perm, reps));
  setThreads(info.threads);
  console.log(
    JSON.stringify({
      transposeGBps: CASES.map((c, i) => ({
        case: c.name,
        stock: stock[i],
        native: native[i],
        native1Thread: native1[i],
      })),
    }),
  );
}

await main();
