/**
 * @qlip/nn's LayerNorm on wasm: the stock-op composite (`QLIP_NATIVE_LAYERNORM=0`) vs the fused kernels, for
 * the bench-s activation [32, 65, 256], forward alone and forward + tf.grads of x, gamma and beta. The two
 * alternate rep by rep (a shared machine's load hits both alike); best and median milliseconds at 1 thread
 * and with every pool thread. Prints one JSON object. Run: `pnpm bench`.
 */
import { loadavg } from 'node:os';
import { layerNorm } from '@qlip/nn';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { installNativeKernels, setThreads, uninstallNativeKernels } from '../src/index.js';

const quick = process.env.QLIP_BENCH_QUICK === '1';
const SHAPE = [32, 65, 256]; // [B, T, D]: bench-s vision tokens

const use = (fused: boolean): void => {
  uninstallNativeKernels();
  if (fused) delete process.env.QLIP_NATIVE_LAYERNORM;
  else process.env.QLIP_NATIVE_LAYERNORM = '0';
  installNativeKernels();
};

function measure(reps: number) {
  const x = tf.randomNormal(SHAPE);
  const gamma = tf.randomNormal([SHAPE[2]!]);
  const beta = tf.randomNormal([SHAPE[2]!]);
  const dy = tf.randomNormal(SHAPE);
  const ln = (xv: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
    layerNorm(
      new Map([
        ['ln.weight', g],
        ['ln.bias', b],
      ]),
      'ln',
      xv,
      1e-5,
    );
  const work = {
    forward: () => tf.dispose(ln(x, gamma, beta)),
    forwardBackward: () =>
      tf.dispose(tf.grads((xv, g, b) => tf.sum(tf.mul(ln(xv, g, b), dy)))([x, gamma, beta])),
  };
  const out: Record<string, Record<string, { bestMs: number; medianMs: number }>> = {};
  for (const [name, fn] of Object.entries(work)) {
    const ms: Record<string, number[]> = { composite: [], fused: [] };
    for (let r = -1; r < reps; r++) {
      for (const variant of ['composite', 'fused'] as const) {
        use(variant === 'fused');
        const t0 = performance.now();
        fn();
        if (r >= 0) ms[variant]!.push(performance.now() - t0); // r = -1: warm-up
      }
    }
    out[name] = Object.fromEntries(
      Object.entries(ms).map(([v, t]) => {
        const sorted = [...t].sort((a, b) => a - b);
        const round = (v: number) => Math.round(v * 100) / 100;
        return [v, { bestMs: round(sorted[0]!), medianMs: round(sorted[Math.floor(sorted.length / 2)]!) }];
      }),
    );
  }
  tf.dispose([x, gamma, beta, dy]);
  return out;
}

async function main(): Promise<void> {
  tf.env().set('PROD', true);
  await tf.setBackend('wasm');
  await tf.ready();
  const info = installNativeKernels();
  if (!info) throw new Error('bench/layernorm.ts: the native addon is not built (run pnpm build:native)');
  const reps = quick ? 3 : 15;
  setThreads(1);
  const oneThread = measure(reps);
  setThreads(info.threads);
  const allThreads = measure(reps);
  delete process.env.QLIP_NATIVE_LAYERNORM;
  console.log(
    JSON.stringify({
      layerNorm: { shape: SHAPE, oneThread, [`threads${info.threads}`]: allThreads },
      loadAverage: loadavg()[0],
    }),
  );
}

await main();
