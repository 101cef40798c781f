import { FUSED_KERNELS, scaledDotProductAttention } from '@qlip/nn';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installNativeKernels, uninstallNativeKernels } from '../src/index.js';
import { filled, onEveryIsa, relErr, skipReason, useWasm } from './helpers.js';

/** Runs fn on the native kernels with the fused attention on or off (QLIP_NATIVE_ATTENTION=0), or on stock wasm. */
function run<T>(mode: 'fused' | 'composite' | 'stock', fn: () => T): T {
  uninstallNativeKernels();
  if (mode === 'stock') return fn();
  if (mode === 'composite') process.env.QLIP_NATIVE_ATTENTION = '0';
  try {
    if (!installNativeKernels()) throw new Error('installNativeKernels() returned undefined');
  } finally {
    delete process.env.QLIP_NATIVE_ATTENTION;
  }
  return fn();
}

interface Case {
  name: string;
  b: number;
  tq: number;
  tk: number;
  h: number;
  hd: number;
  causal: boolean;
}

const CASES: Case[] = [
  { name: 'encoder (CLS + 16 patches)', b: 3, tq: 17, tk: 17, h: 4, hd: 16, causal: false },
  { name: 'decoder, hd 32 (scale not a power of 2)', b: 2, tq: 16, tk: 16, h: 2, hd: 32, causal: false },
  { name: 'causal text tower', b: 3, tq: 13, tk: 13, h: 4, hd: 8, causal: true },
  { name: 'unified: causal after a past of 7', b: 2, tq: 5, tk: 12, h: 2, hd: 12, causal: true },
  { name: 'unified: one decoding step', b: 3, tq: 1, tk: 9, h: 2, hd: 8, causal: true },
  { name: 'odd sizes: one token, hd 3', b: 1, tq: 1, tk: 1, h: 1, hd: 3, causal: false },
  { name: 'odd sizes: hd 5, 3 heads, 19 keys', b: 2, tq: 19, tk: 19, h: 3, hd: 5, causal: true },
  { name: 'bench-s shape (both cores)', b: 4, tq: 65, tk: 65, h: 4, hd: 64, causal: false },
  { name: 'bench-s text tower (both cores)', b: 8, tq: 32, tk: 32, h: 4, hd: 64, causal: true },
];

/** Output and the gradients of sum(o * w) w.r.t. q, k, v, as host arrays. */
function forwardBackward(c: Case, seed: number): Float32Array[] {
  return tf.tidy(() => {
    const d = c.h * c.hd;
    const q = tf.mul(filled([c.b, c.tq, d], seed), 1.5); // [B, Tq, D]: scores spread over a few units
    const k = filled([c.b, c.tk, d], seed + 1);
    const v = filled([c.b, c.tk, d], seed + 2);
    const w = filled([c.b, c.tq, d], seed + 3);
    const opts = { heads: c.h, scale: c.hd ** -0.5, causal: c.causal };
    const o = scaledDotProductAttention(q, k, v, opts);
    const grads = tf.grads((qi, ki, vi) => tf.sum(tf.mul(scaledDotProductAttention(qi, ki, vi, opts), w)))([
      q,
      k,
      v,
    ]);
    return [o, ...grads].map((t) => Float32Array.from(t.dataSync() as Float32Array));
  });
}

describe.skipIf(skipReason)(`fused attention kernels${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  beforeAll(useWasm);
  afterAll(() => uninstallNativeKernels());

  it('registers FUSED_KERNELS.attention on wasm; QLIP_NATIVE_ATTENTION=0 and uninstall remove it', () => {
    run('fused', () => expect(tf.getKernel(FUSED_KERNELS.attention, 'wasm')).toBeDefined());
    expect(tf.getKernel(FUSED_KERNELS.attentionGrad, 'wasm')).toBeDefined();
    run('composite', () => expect(tf.getKernel(FUSED_KERNELS.attention, 'wasm')).toBeUndefined());
    expect(tf.getKernel(FUSED_KERNELS.attentionGrad, 'wasm')).toBeUndefined();
    expect(tf.getKernel(tf.BatchMatMul, 'wasm')).toBeDefined();
    run('stock', () => expect(tf.getKernel(FUSED_KERNELS.attention, 'wasm')).toBeUndefined());
  });

  it.each(CASES)('$name: output and q, k, v gradients equal the composite', (c) => {
    const fused = run('fused', () => forwardBackward(c, 7));
    const composite = run('composite', () => forwardBackward(c, 7));
    const stock = run('stock', () => forwardBackward(c, 7));
    for (let i = 0; i < 4; i++) {
      expect(relErr(fused[i]!, composite[i]!), `tensor ${i} vs composite`).toBeLessThan(2e-6);
      expect(relErr(fused[i]!, stock[i]!), `tensor ${i} vs stock`).toBeLessThan(2e-6);
    }
  });

  it('every compiled softmax row kernel (AVX-512, AVX2, portable) gives the composite result', () => {
    onEveryIsa((isa) => {
      for (const c of [CASES[3]!, CASES[6]!]) {
        const fused = run('fused', () => forwardBackward(c, 5));
        const composite = run('composite', () => forwardBackward(c, 5));
        for (let i = 0; i < 4; i++) {
          expect(relErr(fused[i]!, composite[i]!), `${isa} ${c.name} tensor ${i}`).toBeLessThan(2e-6);
        }
      }
    });
  });

  it('runs as one kernel forward and one backward: no head transposes, softmax or batched matmuls', async () => {
    const c = CASES[2]!;
    const kernels = async (mode: 'fused' | 'composite') => {
      const names = run(mode, () => tf.profile(() => forwardBackward(c, 3)));
      return (await names).kernelNames;
    };
    const fused = await kernels('fused');
    expect(fused).toContain(FUSED_KERNELS.attention);
    expect(fused).toContain(FUSED_KERNELS.attentionGrad);
    for (const stockOp of [tf.Softmax, tf.BatchMatMul, tf.Transpose]) expect(fused).not.toContain(stockOp);
    const composite = await kernels('composite');
    expect(composite).not.toContain(FUSED_KERNELS.attention);
    expect(composite).toContain(tf.Softmax);
  });

  it('masked keys get exactly zero probability and a row of equal scores is uniform', () => {
    const out = run('fused', () =>
      tf.tidy(() => {
        // One head, hd 1: q = 0 makes every score 0; v = key index, so o = mean of the visible indices.
        const q = tf.zeros([1, 4, 1]);
        const kv = tf.reshape(tf.range(0, 6, 1, 'float32'), [1, 6, 1]);
        return scaledDotProductAttention(q, kv, kv, { heads: 1, scale: 1, causal: true }).dataSync();
      }),
    );
    // Query i sees keys 0 .. i + 2: means 1, 1.5, 2, 2.5 (a masked key would pull the mean up).
    expect(relErr(Float32Array.from(out), Float32Array.of(1, 1.5, 2, 2.5))).toBeLessThan(1e-6);
  });

  it('rejects mismatched shapes naming them', () => {
    run('fused', () => {
      const q = tf.zeros([2, 3, 8]);
      const k = tf.zeros([2, 4, 8]);
      expect(() => scaledDotProductAttention(q, k, tf.zeros([2, 5, 8]), { heads: 2, scale: 1 })).toThrow(
        /q \[2,3,8\], k \[2,4,8\], v \[2,5,8\]/,
      );
      expect(() => scaledDotProductAttention(q, k, k, { heads: 3, scale: 1 })).toThrow(
        /divisible by 3 heads/,
      );
    });
  });
});
