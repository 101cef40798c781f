import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installNativeKernels, uninstallNativeKernels } from '../src/index.js';
import { filled, onEveryIsa, readAll, relErr, skipReason, stockAndNative, useWasm } from './helpers.js';

/** The kernel tfjs ran for the last op of fn on wasm: the native one or the stock one. */
const kernelOf = (name: string) => tf.getKernel(name, 'wasm')?.kernelFunc;

describe.skipIf(skipReason)(
  `native unary (Exp, Erf, Tanh, Log) and Sum kernels${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    beforeAll(useWasm);
    afterAll(() => uninstallNativeKernels());

    it('Exp, Erf, Tanh, Log equal the stock kernels on small and multi-threaded sizes', () => {
      // 40,000 elements cross the native threading threshold; 7 stays on the calling thread.
      const run = () =>
        [[7], [200, 200]].flatMap((shape, i) => {
          const x = filled(shape, 10 + i); // values in [-2, 2)
          const pos = tf.add(tf.abs(x), 1e-3);
          const out = [tf.exp(x), tf.erf(x), tf.tanh(x), tf.log(pos), tf.exp(tf.mul(x, 40))];
          tf.dispose([x, pos]);
          return out;
        });
      const [stock, native] = stockAndNative(run, readAll);
      expect(native.length).toBe(10);
      for (let i = 0; i < stock.length; i++) expect(relErr(native[i]!, stock[i]!)).toBeLessThan(2e-6);
      // Exact small cases: the stock kernels' special values.
      const special = tf.tensor1d([0, -0, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN]);
      expect(Array.from(tf.exp(special).dataSync())).toEqual([1, 1, Number.POSITIVE_INFINITY, 0, Number.NaN]);
      expect(Array.from(tf.erf(special).dataSync())).toEqual([0, -0, 1, -1, Number.NaN]);
      expect(Array.from(tf.tanh(special).dataSync())).toEqual([0, -0, 1, -1, Number.NaN]);
      special.dispose();
    });

    it('Tanh (vectorised) is within 3e-7 relative of float64 tanh, across the 0.625 switch and the tails', () => {
      installNativeKernels();
      const xs = [1e-30, -1e-8, 1e-4, 0.3, 0.6249, 0.625, 0.6251, -0.7, 1, -3, 9, 20, -40];
      for (let i = 0; i < 4000; i++) xs.push(-10 + i * 0.005 + 1e-4);
      onEveryIsa((isa) => {
        const y = tf.tanh(tf.tensor1d(xs)).dataSync();
        xs.forEach((x, i) => {
          const want = Math.tanh(Math.fround(x));
          const err = Math.abs(y[i]! - want) / Math.abs(want);
          expect(err, `${isa}: tanh(${x}) = ${y[i]} vs ${want}`).toBeLessThan(3e-7);
        });
      });
    });

    it('Add, Sub, Multiply, RealDiv under every broadcast shape equal the stock kernels bit for bit', () => {
      const pairs: [number[], number[]][] = [
        [
          [5, 7],
          [5, 7],
        ], // same shape
        [[], [5, 7]], // scalar first
        [[200, 200], []], // scalar second, threaded
        [
          [16, 4, 65, 1],
          [16, 4, 65, 65],
        ], // softmax gradient
        [[16, 65, 256], [256]], // bias
        [
          [2, 1, 3],
          [1, 4, 1],
        ], // both broadcast
        [[2, 20000], [20000]], // long rows split across threads
        [
          [6, 1, 5, 1],
          [6, 3, 1, 2],
        ],
        [
          [4, 0],
          [1, 1],
        ], // empty
      ];
      const ops = [tf.add, tf.sub, tf.mul, tf.div];
      const run = () =>
        pairs.flatMap(([sa, sb], i) => {
          const a = filled(sa, 40 + i);
          const b = filled(sb, 60 + i);
          const out = ops.map((f) => f(a, b));
          tf.dispose([a, b]);
          return out;
        });
      const [stock, native] = stockAndNative(run, readAll);
      expect(native.length).toBe(pairs.length * ops.length);
      for (let i = 0; i < stock.length; i++) expect(Array.from(native[i]!)).toEqual(Array.from(stock[i]!));
      // Exact small cases, division by zero included.
      const x = tf.tensor2d([1, -2, 0, 3], [2, 2]);
      const y = tf.tensor1d([0, 2]);
      expect(Array.from(tf.div(x, y).dataSync())).toEqual([Number.POSITIVE_INFINITY, -1, Number.NaN, 1.5]);
      expect(Array.from(tf.sub(y, x).dataSync())).toEqual([-1, 4, 0, -1]);
      expect(tf.add(x, y).shape).toEqual([2, 2]);
      // int32 stays on the stock kernel, with int32 results.
      const ints = tf.add(tf.tensor1d([1, 2], 'int32'), tf.scalar(3, 'int32'));
      expect(ints.dtype).toBe('int32');
      expect(Array.from(ints.dataSync())).toEqual([4, 5]);
      tf.dispose([x, y, ints]);
    });

    it('Sum over leading, trailing and middle adjacent axes (keepDims too) equals the stock kernel', () => {
      const cases: [number[], number | number[], boolean][] = [
        [[1024, 256], 0, false], // a bias gradient, threaded
        [[16, 64, 256], [0, 1], false], // a bias gradient of a 3-D activation
        [[16, 64, 256], -1, true], // row sums (LayerNorm statistics)
        [[6, 5, 4, 3], [2, 1], true], // middle axes, unsorted
        [[6, 5, 4, 3], [0, 1, 2, 3], false], // everything
        [[3, 0, 4], 0, false], // empty
        [[3, 0, 4], 1, false], // empty reduction: zeros
        [[6, 5, 4], [0, 2], false], // not adjacent: the stock kernel
      ];
      const run = () =>
        cases.map(([shape, axis, keep], i) => {
          const x = filled(shape, 20 + i);
          const s = tf.sum(x, axis, keep);
          x.dispose();
          return s;
        });
      const shapes: number[][] = [];
      const [stock, native] = stockAndNative(() => {
        const r = run();
        shapes.push(...r.map((t) => t.shape));
        return r;
      }, readAll);
      expect(shapes.slice(cases.length)).toEqual(shapes.slice(0, cases.length));
      for (let i = 0; i < stock.length; i++) expect(relErr(native[i]!, stock[i]!)).toBeLessThan(1e-6);
      // Column sums add in the stock kernel's order: bit-identical.
      expect(Array.from(native[0]!)).toEqual(Array.from(stock[0]!));
      // int32 goes to the stock kernel and keeps its dtype.
      const ints = tf.sum(tf.tensor2d([1, 2, 3, 4], [2, 2], 'int32'), 0);
      expect(ints.dtype).toBe('int32');
      expect(Array.from(ints.dataSync())).toEqual([4, 6]);
    });

    it('gradients of exact GELU, tanh GELU, a log-softmax and a bias layer equal stock (tf.grads)', () => {
      const x = filled([8, 33, 64], 30); // [B, T, D]
      const w = filled([64, 48], 31);
      const b = filled([48], 32);
      const lossFn = (xv: tf.Tensor, wv: tf.Tensor, bv: tf.Tensor) => {
        const h = tf.add(tf.matMul(tf.reshape(xv, [-1, 64]), wv), bv); // [B*T, 48]
        const gelu = tf.mul(tf.mul(h, 0.5), tf.add(tf.erf(tf.mul(h, Math.SQRT1_2)), 1));
        const tanh = tf.tanh(tf.mul(h, 0.7));
        const logp = tf.logSoftmax(tf.add(gelu, tanh), -1);
        return tf.neg(tf.mean(tf.mul(logp, tf.exp(tf.mul(tanh, 0.5)))));
      };
      const run = () => {
        const { value, grads } = tf.valueAndGrads(lossFn)([x, w, b]);
        return [value, ...grads];
      };
      const [stock, native] = stockAndNative(run, readAll);
      expect(native.length).toBe(4);
      for (let i = 0; i < stock.length; i++) expect(relErr(native[i]!, stock[i]!)).toBeLessThan(1e-5);
      tf.dispose([x, w, b]);
    });

    it('QLIP_NATIVE_UNARY=0, QLIP_NATIVE_BINARY=0 and QLIP_NATIVE_SUM=0 keep the stock kernels', () => {
      uninstallNativeKernels();
      const stockExp = kernelOf(tf.Exp);
      const stockSum = kernelOf(tf.Sum);
      for (const [family, name, stockFn] of [
        ['UNARY', tf.Exp, stockExp],
        ['SUM', tf.Sum, stockSum],
      ] as const) {
        process.env[`QLIP_NATIVE_${family}`] = '0';
        try {
          installNativeKernels();
          expect(kernelOf(name)).toBe(stockFn);
          expect(kernelOf(name === tf.Exp ? tf.Sum : tf.Exp)).not.toBe(name === tf.Exp ? stockSum : stockExp);
        } finally {
          delete process.env[`QLIP_NATIVE_${family}`];
          uninstallNativeKernels();
        }
      }
      expect(kernelOf(tf.Exp)).toBe(stockExp);
    });
  },
);
