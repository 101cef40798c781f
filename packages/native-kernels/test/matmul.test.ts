import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installNativeKernels, uninstallNativeKernels } from '../src/index.js';
import { filled, readTensor, relErr, skipReason, stockAndNative, useWasm } from './helpers.js';

/** [M, N, K]: odd sizes, tails of every register tile, several K blocks (256) and N blocks (2048). */
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [7, 13, 5],
  [65, 257, 33],
  [200, 150, 300],
  [13, 2100, 40],
  [2, 3, 700],
];

function operands(M: number, N: number, K: number, tA: boolean, tB: boolean, seed: number) {
  const a = filled(tA ? [K, M] : [M, K], seed);
  const b = filled(tB ? [N, K] : [K, N], seed + 1);
  return { a, b };
}

describe.skipIf(skipReason)(
  `native BatchMatMul equals stock wasm${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    beforeAll(useWasm);
    afterAll(() => uninstallNativeKernels());

    for (const [M, N, K] of SHAPES) {
      for (const tA of [false, true]) {
        for (const tB of [false, true]) {
          it(`${M}x${N}x${K} transposeA=${tA} transposeB=${tB}`, () => {
            const { a, b } = operands(M, N, K, tA, tB, M + N + K);
            const [[s], [n]] = stockAndNative(() => tf.matMul(a, b, tA, tB), readTensor);
            expect(n.length).toBe(M * N);
            expect(relErr(n, s)).toBeLessThan(1e-5);
          });
        }
      }
    }

    it('batched with equal batch dims, transposed like attention scores', () => {
      const q = filled([2, 3, 17, 8], 1);
      const k = filled([2, 3, 19, 8], 2);
      const [[s], [n]] = stockAndNative(() => tf.matMul(q, k, false, true), readTensor);
      expect(relErr(n, s)).toBeLessThan(1e-5);
    });

    it('broadcasts a rank-2 weight over a batch, both ways round', () => {
      const x = filled([4, 9, 12], 3);
      const w = filled([12, 6], 4);
      const [[s1], [n1]] = stockAndNative(() => tf.matMul(x, w), readTensor);
      expect(relErr(n1, s1)).toBeLessThan(1e-5);
      const [[s2], [n2]] = stockAndNative(() => tf.matMul(filled([5, 9], 5), x), readTensor);
      expect(relErr(n2, s2)).toBeLessThan(1e-5);
    });

    // Tiny items take the simple loop; 70x90x80 items take the packed, threaded path with index maps.
    for (const [M, N, K] of [
      [5, 4, 7],
      [70, 90, 80],
    ]) {
      it(`broadcasts [2, 1, ..] x [1, 3, ..] like numpy, ${M}x${N}x${K} (reference: tiled operands)`, () => {
        const a = filled([2, 1, M, K], 6);
        const b = filled([1, 3, K, N], 7);
        const tiledA = tf.broadcastTo(a, [2, 3, M, K]);
        const tiledB = tf.broadcastTo(b, [2, 3, K, N]);
        uninstallNativeKernels();
        const [ref] = readTensor(tf.matMul(tiledA, tiledB));
        installNativeKernels();
        const out = tf.matMul(a, b);
        expect(out.shape).toEqual([2, 3, M, N]);
        expect(relErr(readTensor(out)[0], ref)).toBeLessThan(1e-5);
      });
    }

    it('an empty inner dimension gives zeros', () => {
      installNativeKernels();
      const out = tf.matMul(tf.zeros([3, 0]), tf.zeros([0, 4]));
      expect(out.shape).toEqual([3, 4]);
      expect(Array.from(out.dataSync())).toEqual(new Array(12).fill(0));
    });

    it('mismatched inner dimensions still raise the stock error', () => {
      installNativeKernels();
      expect(() => tf.matMul(filled([3, 4], 1), filled([5, 2], 2))).toThrow(/inner shapes \(4\) and \(5\)/);
    });
  },
);

describe.skipIf(skipReason)(
  `native _FusedMatMul equals stock wasm${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    beforeAll(useWasm);
    afterAll(() => uninstallNativeKernels());

    const activations = ['linear', 'relu', 'relu6', 'elu', 'leakyrelu', 'sigmoid', 'prelu'] as const;
    for (const activation of activations) {
      for (const [M, N, K] of [
        [7, 13, 5],
        [65, 257, 33],
      ] as const) {
        it(`${activation} with bias, ${M}x${N}x${K}`, () => {
          const a = filled([1, M, K], 8);
          const b = filled([1, K, N], 9);
          const bias = filled([N], 10);
          const preluActivationWeights = activation === 'prelu' ? filled([N], 11) : undefined;
          const [[s], [n]] = stockAndNative(
            () => tf.fused.matMul({ a, b, bias, activation, preluActivationWeights, leakyreluAlpha: 0.15 }),
            readTensor,
          );
          expect(relErr(n, s)).toBeLessThan(1e-5);
        });
      }
    }

    // The stock wasm _FusedMatMul gets batched products with a bias wrong (~12% off here), so the reference
    // is the unfused stock chain: relu(matMul(a, b) + bias).
    for (const [tA, tB] of [
      [false, false],
      [true, true],
    ]) {
      it(`bias + relu on a batched product, transposeA=${tA} transposeB=${tB} (reference: unfused ops)`, () => {
        const a = filled(tA ? [3, 40, 30] : [3, 30, 40], 12);
        const b = filled(tB ? [3, 50, 40] : [3, 40, 50], 13);
        const bias = filled([50], 14);
        const [[ref], [n]] = stockAndNative(() => tf.relu(tf.add(tf.matMul(a, b, tA, tB), bias)), readTensor);
        const fused = tf.fused.matMul({ a, b, bias, activation: 'relu', transposeA: tA, transposeB: tB });
        expect(relErr(readTensor(fused)[0], ref)).toBeLessThan(1e-5);
        expect(relErr(n, ref)).toBeLessThan(1e-5);
      });
    }

    it('a scalar-shaped prelu weight broadcasts to every column', () => {
      const a = filled([1, 9, 11], 15);
      const b = filled([1, 11, 6], 16);
      const w = tf.tensor1d([0.3]);
      const [[s], [n]] = stockAndNative(
        () => tf.fused.matMul({ a, b, activation: 'prelu', preluActivationWeights: w }),
        readTensor,
      );
      expect(relErr(n, s)).toBeLessThan(1e-5);
    });

    it('a bias that is not per-column goes to the stock kernel (and its error)', () => {
      installNativeKernels();
      const a = filled([1, 4, 3], 17);
      const b = filled([1, 3, 5], 18);
      const bias = filled([4, 1], 19);
      expect(() => tf.fused.matMul({ a, b, bias })).toThrow(/rank-1 bias/);
    });
  },
);
