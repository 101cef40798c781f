import { execFileSync } from 'node:child_process';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { OPENBLAS_PACKAGE } from '../src/blas.js';
import {
  installNativeKernels,
  loadNative,
  nativeKernelsAccelerator,
  setThreads,
  uninstallNativeKernels,
} from '../src/index.js';
import { ADDON_PATH } from '../src/native.js';
import { filled, readTensor, relErr, skipReason, useWasm } from './helpers.js';

/** Why the OpenBLAS cases cannot run: no addon, or no OpenBLAS outside CI (CI installs it: `.ci/run`). */
function blasSkipReason(): string | undefined {
  if (skipReason) return skipReason;
  const state = loadNative()!.blasLoad('');
  if (state.loaded || process.env.CI) return undefined;
  return `no system OpenBLAS (apt-get install ${OPENBLAS_PACKAGE}): ${state.error}`;
}
const blasSkip = blasSkipReason();
const suffix = blasSkip ? ` (skipped: ${blasSkip})` : '';

const ENV = ['QLIP_NATIVE_BLAS', 'QLIP_BLAS_LIB', 'QLIP_NATIVE_THREADS'] as const;
const saved = Object.fromEntries(ENV.map((k) => [k, process.env[k]]));
function restoreEnv(): void {
  for (const k of ENV) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
}

/** Runs fn with the stock kernels, our SGEMM (QLIP_NATIVE_BLAS=0) and OpenBLAS (=1): host copies of each. */
function threeWays(fn: () => tf.Tensor): { stock: Float32Array; ours: Float32Array; blas: Float32Array } {
  uninstallNativeKernels();
  const [stock] = readTensor(fn());
  process.env.QLIP_NATIVE_BLAS = '0';
  expect(installNativeKernels()?.blas).toBeUndefined();
  const [ours] = readTensor(fn());
  process.env.QLIP_NATIVE_BLAS = '1';
  expect(installNativeKernels()?.sgemm).toMatch(/^openblas /);
  const [blas] = readTensor(fn());
  return { stock, ours, blas };
}

function expectAllClose(r: ReturnType<typeof threeWays>, ref = r.stock): void {
  expect(r.blas.length).toBe(ref.length);
  expect(relErr(r.ours, ref)).toBeLessThan(1e-5);
  expect(relErr(r.blas, ref)).toBeLessThan(1e-5);
  expect(relErr(r.blas, r.ours)).toBeLessThan(1e-5);
}

/**
 * [M, N, K]: tiny (the plain loop), a row or column vector, our kernel's full and half tiles at the row and
 * column tails, several K blocks (2100 = 3 x 700), threads.
 */
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [3, 5, 2],
  [1, 300, 40],
  [300, 1, 40],
  [40, 30, 1],
  [65, 257, 33],
  [200, 150, 300],
  [13, 2100, 40],
  [2, 3, 700],
  [65, 65, 64],
  [70, 33, 2100],
];

describe.skipIf(blasSkip)(`OpenBLAS equals our SGEMM and stock wasm${suffix}`, () => {
  beforeAll(useWasm);
  afterEach(restoreEnv);
  afterAll(() => {
    restoreEnv();
    uninstallNativeKernels();
  });

  for (const [M, N, K] of SHAPES) {
    it(`${M}x${N}x${K}, every transposeA/transposeB`, () => {
      for (const tA of [false, true])
        for (const tB of [false, true]) {
          const a = filled(tA ? [K, M] : [M, K], M + K);
          const b = filled(tB ? [N, K] : [K, N], N + K);
          expectAllClose(threeWays(() => tf.matMul(a, b, tA, tB)));
        }
    });
  }

  it('batched attention-like products and a rank-2 weight broadcast over a batch, both ways round', () => {
    const q = filled([2, 3, 65, 16], 1);
    const k = filled([2, 3, 65, 16], 2);
    expectAllClose(threeWays(() => tf.matMul(q, k, false, true)));
    const x = filled([4, 90, 120], 3);
    const w = filled([120, 60], 4);
    expectAllClose(threeWays(() => tf.matMul(x, w)));
    expectAllClose(threeWays(() => tf.matMul(filled([50, 90], 5), x)));
    expectAllClose(threeWays(() => tf.matMul(x, filled([4, 70, 120], 6), false, true)));
  });

  it('broadcasts [2, 1, ..] x [1, 3, ..] like numpy, transposed too (reference: tiled operands)', () => {
    for (const [tA, tB] of [
      [false, false],
      [true, true],
    ]) {
      const a = filled(tA ? [2, 1, 80, 70] : [2, 1, 70, 80], 6);
      const b = filled(tB ? [1, 3, 90, 80] : [1, 3, 80, 90], 7);
      uninstallNativeKernels();
      const [ref] = readTensor(
        tf.matMul(
          tf.broadcastTo(a, [2, 3, ...a.shape.slice(2)]),
          tf.broadcastTo(b, [2, 3, ...b.shape.slice(2)]),
          tA,
          tB,
        ),
      );
      expectAllClose(
        threeWays(() => tf.matMul(a, b, tA, tB)),
        ref,
      );
    }
  });

  const activations = ['linear', 'relu', 'relu6', 'elu', 'leakyrelu', 'sigmoid', 'prelu'] as const;
  it(`_FusedMatMul: bias + each activation (${activations.join(', ')}) after OpenBLAS`, () => {
    for (const activation of activations) {
      const a = filled([1, 130, 70], 8);
      const b = filled([1, 70, 90], 9);
      const bias = filled([90], 10);
      const preluActivationWeights = activation === 'prelu' ? filled([90], 11) : undefined;
      const r = threeWays(() =>
        tf.fused.matMul({ a, b, bias, activation, preluActivationWeights, leakyreluAlpha: 0.15 }),
      );
      expectAllClose(r);
    }
  });

  it('_FusedMatMul on a transposed, batched product with a scalar bias (reference: unfused ops)', () => {
    const a = filled([3, 80, 60], 12);
    const b = filled([3, 100, 80], 13);
    const bias = tf.tensor1d([0.25]);
    uninstallNativeKernels();
    const [ref] = readTensor(tf.relu(tf.add(tf.matMul(a, b, true, true), bias)));
    const r = threeWays(() =>
      tf.fused.matMul({ a, b, bias, activation: 'relu', transposeA: true, transposeB: true }),
    );
    expectAllClose(r, ref);
  });

  it('empty shapes: an empty inner dimension gives zeros (+ bias), an empty batch or row gives nothing', () => {
    const bias = filled([4], 14);
    // Stock wasm's XNNPACK refuses K = 0 and returns uninitialised memory: the reference is the bias itself.
    const r = threeWays(() => tf.fused.matMul({ a: tf.zeros([3, 0]), b: tf.zeros([0, 4]), bias }));
    const rows = Array.from(bias.dataSync());
    expect(Array.from(r.blas)).toEqual([...rows, ...rows, ...rows]);
    expect(Array.from(r.ours)).toEqual(Array.from(r.blas));
    expect(threeWays(() => tf.matMul(tf.zeros([0, 3, 5]), tf.zeros([0, 5, 4]))).blas.length).toBe(0);
    expect(threeWays(() => tf.matMul(tf.zeros([0, 5]), tf.zeros([5, 4]))).blas.length).toBe(0);
  });

  it('one and two threads of our pool give bit-identical OpenBLAS results (row strips, batch items)', () => {
    process.env.QLIP_NATIVE_BLAS = '1';
    installNativeKernels();
    for (const [sa, sb] of [
      [
        [600, 200],
        [200, 260],
      ],
      [
        [16, 60, 50],
        [16, 50, 70],
      ],
    ]) {
      const a = filled(sa!, 15);
      const b = filled(sb!, 16);
      setThreads(1);
      const [one] = readTensor(tf.matMul(a, b));
      setThreads(2);
      const [two] = readTensor(tf.matMul(a, b));
      expect(relErr(two, one)).toBe(0);
    }
  });
});

describe.skipIf(blasSkip)(`OpenBLAS selection and switches${suffix}`, () => {
  beforeAll(useWasm);
  afterEach(() => {
    restoreEnv();
    uninstallNativeKernels();
  });

  it('the backend detail names the provider, and QLIP_NATIVE_BLAS=0 our ISA path', async () => {
    process.env.QLIP_NATIVE_THREADS = '1';
    delete process.env.QLIP_NATIVE_BLAS;
    expect(await nativeKernelsAccelerator('wasm')).toMatch(
      /^native SGEMM openblas [\d.]+ \(\w+\), 1 thread$/,
    );
    process.env.QLIP_NATIVE_BLAS = '0';
    process.env.QLIP_NATIVE_THREADS = '2';
    expect(await nativeKernelsAccelerator('wasm')).toMatch(
      /^native SGEMM (avx512|avx2|portable), 2 threads$/,
    );
  });

  it('bad switches and a QLIP_BLAS_LIB that cannot be opened fail, naming the variable', () => {
    process.env.QLIP_NATIVE_BLAS = 'yes';
    expect(() => installNativeKernels()).toThrow('QLIP_NATIVE_BLAS="yes": expected 0');
    process.env.QLIP_NATIVE_BLAS = '1';
    process.env.QLIP_BLAS_LIB = '/nonexistent/libopenblas.so.0';
    expect(() => installNativeKernels()).toThrow(
      /QLIP_BLAS_LIB="\/nonexistent\/libopenblas.so.0": .*already loaded/,
    );
  });

  it('a fresh process opens QLIP_BLAS_LIB by path and refuses a library that is not OpenBLAS', () => {
    const path = loadNative()!.blasInfo().path;
    const probe = (lib: string) =>
      JSON.parse(
        execFileSync(
          process.execPath,
          [
            '-e',
            `console.log(JSON.stringify(require(${JSON.stringify(ADDON_PATH)}).blasLoad(${JSON.stringify(lib)})))`,
          ],
          { encoding: 'utf8' },
        ),
      );
    const ok = probe(path);
    expect(ok).toMatchObject({ loaded: true, path, core: expect.any(String) });
    expect(ok.config).toMatch(/^OpenBLAS /);
    const missing = probe('/nonexistent/libopenblas.so.0');
    expect(missing.loaded).toBe(false);
    expect(missing.error).toMatch(/\/nonexistent\/libopenblas.so.0/);
    const notBlas = probe('libm.so.6');
    expect(notBlas).toMatchObject({ loaded: false, error: expect.stringMatching(/not OpenBLAS/) });
  });
});
