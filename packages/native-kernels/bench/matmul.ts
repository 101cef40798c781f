/**
 * Stock tfjs wasm matMul vs the native SGEMM on ViT-sized products, plus one ViT block forward+backward.
 * Prints one JSON object. Run: `pnpm bench` (QLIP_BENCH_QUICK=1 for fewer repetitions).
 */
import { cpus } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { installNativeKernels, setThreads, uninstallNativeKernels } from '../src/index.js';

const quick = process.env.QLIP_BENCH_QUICK === '1';
const [B, T, D, HEADS, MLP] = [32, 64, 256, 4, 1024]; // batch, tokens, width, heads, MLP width
const HD = D / HEADS;

/** Best wall time in ms of `reps` runs after one warm-up (the machine is shared: the minimum is the signal). */
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

interface Case {
  name: string;
  a: number[];
  b: number[];
  transposeA?: boolean;
  transposeB?: boolean;
  /** Multiply-adds, counted as 2 flops each. */
  macs: number;
}

const N = B * T;
const CASES: Case[] = [
  { name: 'qkv projection [N,D]x[D,3D]', a: [N, D], b: [D, 3 * D], macs: N * D * 3 * D },
  { name: 'mlp fc1 [N,D]x[D,MLP]', a: [N, D], b: [D, MLP], macs: N * D * MLP },
  {
    name: 'mlp fc2 grad dX [N,MLP]x[D,MLP]^T',
    a: [N, MLP],
    b: [D, MLP],
    transposeB: true,
    macs: N * MLP * D,
  },
  { name: 'mlp fc1 grad dW [N,D]^T x[N,MLP]', a: [N, D], b: [N, MLP], transposeA: true, macs: D * N * MLP },
  { name: 'batched linear [B,T,D]x[D,MLP]', a: [B, T, D], b: [D, MLP], macs: N * D * MLP },
  {
    name: 'attention scores [B,H,T,hd]x[B,H,T,hd]^T',
    a: [B, HEADS, T, HD],
    b: [B, HEADS, T, HD],
    transposeB: true,
    macs: B * HEADS * T * T * HD,
  },
  {
    name: 'attention p.v [B,H,T,T]x[B,H,T,hd]',
    a: [B, HEADS, T, T],
    b: [B, HEADS, T, HD],
    macs: B * HEADS * T * T * HD,
  },
];

function gflops(c: Case, reps: number): number {
  const a = tf.randomNormal(c.a);
  const b = tf.randomNormal(c.b);
  const ms = bestMs(() => tf.matMul(a, b, c.transposeA, c.transposeB).dispose(), reps);
  tf.dispose([a, b]);
  return Number(((2 * c.macs) / (ms * 1e6)).toFixed(2));
}

function layerNorm(x: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-6))), g), b);
}

/** Pre-LN ViT block: x + attn(LN(x)), then + MLP(LN(.)); tanh-GELU. x: [B, T, D]. */
function vitBlock(x: tf.Tensor, p: tf.Tensor[]): tf.Tensor {
  const [g1, b1, wqkv, bqkv, wo, bo, g2, b2, w1, bb1, w2, bb2] = p;
  const h = tf.reshape(layerNorm(x, g1, b1), [N, D]); // [B*T, D]
  const qkv = tf.add(tf.matMul(h, wqkv), bqkv); // [B*T, 3D]
  const heads = tf.transpose(tf.reshape(qkv, [B, T, 3, HEADS, HD]), [2, 0, 3, 1, 4]); // [3, B, H, T, hd]
  const [q, k, v] = tf.unstack(heads); // [B, H, T, hd] each
  const att = tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(HD))); // [B, H, T, T]
  const o = tf.reshape(tf.transpose(tf.matMul(att, v), [0, 2, 1, 3]), [N, D]); // [B*T, D]
  const x1 = tf.add(x, tf.reshape(tf.add(tf.matMul(o, wo), bo), [B, T, D]));
  const h2 = tf.reshape(layerNorm(x1, g2, b2), [N, D]);
  const u = tf.add(tf.matMul(h2, w1), bb1); // [B*T, MLP]
  const gelu = tf.mul(
    tf.mul(u, 0.5),
    tf.add(1, tf.tanh(tf.mul(tf.add(u, tf.mul(tf.pow(u, 3), 0.044715)), 0.7978845608))),
  );
  return tf.add(x1, tf.reshape(tf.add(tf.matMul(gelu, w2), bb2), [B, T, D]));
}

function vitStep(reps: number): { ms: number; grads: Float32Array[] } {
  const x = tf.randomNormal([B, T, D], 0, 1, 'float32', 1);
  const w = tf.randomNormal([B, T, D], 0, 1, 'float32', 2);
  const shapes = [[D], [D], [D, 3 * D], [3 * D], [D, D], [D], [D], [D], [D, MLP], [MLP], [MLP, D], [D]];
  const params = shapes.map((s, i) =>
    s.length === 1
      ? i % 4 === 0
        ? tf.ones(s)
        : tf.zeros(s)
      : tf.randomNormal(s, 0, 0.05, 'float32', 10 + i),
  );
  const step = () => tf.valueAndGrads((...p: tf.Tensor[]) => tf.sum(tf.mul(vitBlock(x, p), w)))(params);
  const ms = bestMs(() => {
    const { value, grads } = step();
    tf.dispose([value, ...grads]);
  }, reps);
  const { value, grads } = step();
  const out = grads.map((g) => Float32Array.from(g.dataSync() as Float32Array));
  tf.dispose([value, ...grads, x, w, ...params]);
  return { ms, grads: out };
}

function maxRelDiff(a: Float32Array[], b: Float32Array[]): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    let err = 0;
    let scale = 1e-30;
    for (let j = 0; j < a[i].length; j++) {
      err = Math.max(err, Math.abs(a[i][j] - b[i][j]));
      scale = Math.max(scale, Math.abs(b[i][j]));
    }
    worst = Math.max(worst, err / scale);
  }
  return worst;
}

async function main(): Promise<void> {
  tf.env().set('PROD', true);
  await tf.setBackend('wasm');
  await tf.ready();
  const reps = quick ? 2 : 5;
  uninstallNativeKernels();
  const stockTranspose = tf.getKernel(tf.Transpose, 'wasm');
  if (!stockTranspose) throw new Error('bench/matmul.ts: tfjs-backend-wasm registered no Transpose');
  const stock = CASES.map((c) => gflops(c, reps));
  const info = installNativeKernels();
  if (!info) throw new Error('bench/matmul.ts: the native addon is not built (run pnpm build:native)');
  const native = CASES.map((c) => gflops(c, reps));
  setThreads(1);
  const native1 = CASES.map((c) => gflops(c, reps));
  setThreads(info.threads);
  const nativeStep = vitStep(quick ? 1 : 3);
  // The step with native matmuls but the stock Transpose: what the native Transpose adds on top.
  tf.unregisterKernel(tf.Transpose, 'wasm');
  tf.registerKernel(stockTranspose);
  const matMulOnlyStep = vitStep(quick ? 1 : 3);
  uninstallNativeKernels();
  const stockStep = vitStep(1);
  console.log(
    JSON.stringify({
      machine: { cpu: cpus()[0]?.model, cores: cpus().length, isa: info.isa, threads: info.threads },
      gflops: CASES.map((c, i) => ({
        case: c.name,
        stock: stock[i],
        native: native[i],
        native1Thread: native1[i],
      })),
      vitBlockStep: {
        shape: { batch: B, tokens: T, width: D, heads: HEADS, mlp: MLP },
        stockMs: Math.round(stockStep.ms),
        nativeMatMulOnlyMs: Math.round(matMulOnlyStep.ms),
        nativeMs: Math.round(nativeStep.ms),
        speedup: Number((stockStep.ms / nativeStep.ms).toFixed(1)),
        gradMaxRelDiff: maxRelDiff(nativeStep.grads, stockStep.grads),
      },
    }),
  );
}

await main();
