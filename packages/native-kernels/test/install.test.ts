import * as tf from '@tensorflow/tfjs-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  currentIsa,
  type Isa,
  installNativeKernels,
  nativeKernelsInstalled,
  setIsa,
  setThreads,
  supportedIsas,
  uninstallNativeKernels,
} from '../src/index.js';
import { filled, readTensor, relErr, skipReason, stockAndNative, useWasm } from './helpers.js';

const suffix = skipReason ? ` (skipped: ${skipReason})` : '';

/**
 * Shapes that reach the packed kernel (full and half tiles at the row and column tails, several short or
 * long K blocks, threads) and the fused epilogue.
 */
function compareAll(): void {
  for (const [M, N, K, tA, tB] of [
    [65, 257, 33, false, false],
    [130, 70, 300, true, false],
    [40, 90, 520, false, true],
    [33, 47, 61, true, true],
    [65, 65, 64, false, true],
    [70, 40, 2100, true, false],
    [29, 150, 1030, false, false],
    [2048, 520, 1100, false, true], // C beyond half of L2: two K blocks of 550
    [70, 30, 300, false, false], // A read in place (few column panels), a packed row tail, two K blocks
    [66, 30, 300, false, true], // A read in place, a half-height row tail on avx512
  ] as const) {
    const a = filled(tA ? [K, M] : [M, K], M);
    const b = filled(tB ? [N, K] : [K, N], N);
    const [[s], [n]] = stockAndNative(() => tf.matMul(a, b, tA, tB), readTensor);
    expect(relErr(n, s), `${M}x${N}x${K} tA=${tA} tB=${tB}`).toBeLessThan(1e-5);
  }
  const a = filled([1, 50, 70], 1);
  const b = filled([1, 70, 45], 2);
  const bias = filled([45], 3);
  const [[s], [n]] = stockAndNative(() => tf.fused.matMul({ a, b, bias, activation: 'elu' }), readTensor);
  expect(relErr(n, s)).toBeLessThan(1e-5);
}

describe.skipIf(skipReason)(`ISA paths and threads${suffix}`, () => {
  const supported = skipReason ? [] : supportedIsas();
  const best = supported[0];
  const blasEnv = process.env.QLIP_NATIVE_BLAS;
  beforeAll(async () => {
    process.env.QLIP_NATIVE_BLAS = '0'; // our own kernel on each ISA path, not OpenBLAS (test/blas.test.ts)
    await useWasm();
  });
  afterAll(() => {
    if (best) setIsa(best);
    if (blasEnv === undefined) delete process.env.QLIP_NATIVE_BLAS;
    else process.env.QLIP_NATIVE_BLAS = blasEnv;
    uninstallNativeKernels();
  });

  it('the best supported ISA is the default and portable is always available', () => {
    expect(supported.at(-1)).toBe('portable');
    expect(currentIsa()).toBe(best);
  });

  for (const isa of ['avx512', 'avx2', 'portable'] as Isa[]) {
    const ok = supported.includes(isa);
    it.skipIf(!ok)(`${isa} path equals stock${ok ? '' : ` (skipped: this CPU lacks ${isa})`}`, () => {
      expect(setIsa(isa)).toBe(true);
      expect(currentIsa()).toBe(isa);
      compareAll();
    });
  }

  it('refuses an ISA this CPU lacks and keeps the current one', () => {
    setIsa('portable');
    const missing = (['avx512', 'avx2'] as Isa[]).find((i) => !supported.includes(i));
    if (missing) {
      expect(setIsa(missing)).toBe(false);
      expect(currentIsa()).toBe('portable');
    }
    expect(() => setIsa('sse9' as Isa)).toThrow('setIsa("sse9"): expected one of avx512, avx2, portable');
    setIsa(best);
  });

  it('one and two threads give the same results', () => {
    const a = filled([300, 200], 4);
    const b = filled([200, 260], 5);
    installNativeKernels();
    setThreads(1);
    const [one] = readTensor(tf.matMul(a, b));
    setThreads(2);
    const [two] = readTensor(tf.matMul(a, b));
    expect(relErr(two, one)).toBe(0);
  });
});

describe.skipIf(skipReason)(`installation and environment switches${suffix}`, () => {
  const saved = { native: process.env.QLIP_NATIVE, threads: process.env.QLIP_NATIVE_THREADS };
  beforeAll(useWasm);
  afterEach(() => {
    for (const [k, v] of [
      ['QLIP_NATIVE', saved.native],
      ['QLIP_NATIVE_THREADS', saved.threads],
    ] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    uninstallNativeKernels();
  });

  it('replaces both wasm kernels and uninstall restores the stock ones', () => {
    uninstallNativeKernels();
    const stockMatMul = tf.getKernel(tf.BatchMatMul, 'wasm')!.kernelFunc;
    const stockFused = tf.getKernel(tf._FusedMatMul, 'wasm')!.kernelFunc;
    const info = installNativeKernels();
    expect(info?.isa).toBe(supportedIsas()[0]);
    expect(nativeKernelsInstalled()).toBe(true);
    expect(tf.getKernel(tf.BatchMatMul, 'wasm')!.kernelFunc).not.toBe(stockMatMul);
    expect(tf.getKernel(tf._FusedMatMul, 'wasm')!.kernelFunc).not.toBe(stockFused);
    expect(uninstallNativeKernels()).toBe(true);
    expect(tf.getKernel(tf.BatchMatMul, 'wasm')!.kernelFunc).toBe(stockMatMul);
    expect(tf.getKernel(tf._FusedMatMul, 'wasm')!.kernelFunc).toBe(stockFused);
    expect(uninstallNativeKernels()).toBe(false);
  });

  it('QLIP_NATIVE=0 leaves the stock kernels in place', () => {
    uninstallNativeKernels();
    const stockMatMul = tf.getKernel(tf.BatchMatMul, 'wasm')!.kernelFunc;
    process.env.QLIP_NATIVE = '0';
    expect(installNativeKernels()).toBeUndefined();
    expect(nativeKernelsInstalled()).toBe(false);
    expect(tf.getKernel(tf.BatchMatMul, 'wasm')!.kernelFunc).toBe(stockMatMul);
  });

  it('QLIP_NATIVE_THREADS sets the thread count and rejects nonsense', () => {
    process.env.QLIP_NATIVE_THREADS = '1';
    expect(installNativeKernels()?.threads).toBe(1);
    process.env.QLIP_NATIVE_THREADS = '3';
    expect(installNativeKernels()?.threads).toBe(3);
    process.env.QLIP_NATIVE_THREADS = 'lots';
    expect(() => installNativeKernels()).toThrow(
      'QLIP_NATIVE_THREADS="lots": expected an integer from 1 to 64',
    );
  });
});
