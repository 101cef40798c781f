import { FUSED_KERNELS, geluErf } from '@qlip/nn';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installNativeKernels, uninstallNativeKernels } from '../src/index.js';
import { filled, onEveryIsa, readAll, relErr, skipReason, stockAndNative, useWasm } from './helpers.js';

/** Phi(x) and phi(x) in float64 (Taylor series of erf below |z| = 2, Lentz continued fraction of erfc above). */
function normalRef(x: number): { cdf: number; pdf: number } {
  const z = Math.abs(x) / Math.SQRT2;
  let erfcZ: number;
  if (z < 2) {
    let term = z;
    let sum = z;
    for (let n = 1; n < 60; n++) {
      term *= (-z * z) / n;
      sum += term / (2 * n + 1);
    }
    erfcZ = 1 - (2 / Math.sqrt(Math.PI)) * sum;
  } else {
    let f = 0;
    for (let k = 60; k >= 1; k--) f = k / 2 / (z + f);
    erfcZ = Math.exp(-z * z) / Math.sqrt(Math.PI) / (z + f);
  }
  return { cdf: x < 0 ? erfcZ / 2 : 1 - erfcZ / 2, pdf: Math.exp((-x * x) / 2) / Math.sqrt(2 * Math.PI) };
}

// 37 values: not a multiple of 16 or 8, so the vector tail runs too.
const XS = [0, -0, 1e-30, -1e-8, 1e-3, -0.5, 0.5, 1, -1, 2, -2, 3, -3, 5, -5, 8, -8, 10, -10, 13, -13];
XS.push(...Array.from({ length: 16 }, (_, i) => -6 + i * 0.77));

describe.skipIf(skipReason)(
  `fused exact GELU kernels${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    beforeAll(useWasm);
    afterAll(() => uninstallNativeKernels());

    it('registers @qlip/nn FUSED_KERNELS on wasm, removes them on uninstall, QLIP_NATIVE_GELU=0 skips them', () => {
      installNativeKernels();
      expect(tf.getKernel(FUSED_KERNELS.geluErf, 'wasm')).toBeDefined();
      expect(tf.getKernel(FUSED_KERNELS.geluErfGrad, 'wasm')).toBeDefined();
      uninstallNativeKernels();
      expect(tf.getKernel(FUSED_KERNELS.geluErf, 'wasm')).toBeUndefined();
      process.env.QLIP_NATIVE_GELU = '0';
      try {
        installNativeKernels();
        expect(tf.getKernel(FUSED_KERNELS.geluErf, 'wasm')).toBeUndefined();
        expect(tf.getKernel(tf.BatchMatMul, 'wasm')).toBeDefined();
      } finally {
        delete process.env.QLIP_NATIVE_GELU;
        uninstallNativeKernels();
      }
    });

    it('forward: within 2e-7 |x| of float64 GELU, 1e-6 relative on [-8, 8], and of the stock composite', () => {
      const x = tf.tensor1d(XS);
      installNativeKernels();
      const composite = tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)).dataSync();
      onEveryIsa((isa) => {
        const y = geluErf(x).dataSync();
        XS.forEach((v, i) => {
          const want = v * normalRef(v).cdf;
          expect(Math.abs(y[i]! - want), `${isa}: x = ${v}`).toBeLessThanOrEqual(2e-7 * Math.abs(v) + 1e-37);
        });
      });
      const fused = geluErf(x).dataSync();
      XS.forEach((v, i) => {
        const want = v * normalRef(v).cdf;
        const err = Math.abs(fused[i]! - want);
        expect(err, `x = ${v}: ${fused[i]} vs ${want}`).toBeLessThanOrEqual(2e-7 * Math.abs(v) + 1e-37);
        if (Math.abs(v) <= 8 && want !== 0) expect(err / Math.abs(want), `x = ${v}`).toBeLessThan(1e-6);
        // The composite cancels in the negative tail (1 + erf ~ 0): it is the less accurate of the two there.
        expect(Math.abs(fused[i]! - composite[i]!), `x = ${v}`).toBeLessThanOrEqual(
          4e-7 * Math.abs(v) + 1e-37,
        );
      });
      expect(Object.is(fused[1], -0)).toBe(true); // GELU(-0) = -0, as the composite
      // As the stock composite (and PyTorch): -inf * Phi(-inf) = -inf * 0 is NaN.
      const special = tf.tensor1d([Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN]);
      expect(Array.from(geluErf(special).dataSync())).toEqual([
        Number.POSITIVE_INFINITY,
        Number.NaN,
        Number.NaN,
      ]);
      tf.dispose([x, special]);
      uninstallNativeKernels();
    });

    it('gradient: Phi(x) + x phi(x) within float32 reach of float64, tails included', () => {
      installNativeKernels();
      const got = tf.grad(geluErf)(tf.tensor1d(XS)).dataSync();
      XS.forEach((v, i) => {
        const { cdf, pdf } = normalRef(v);
        const want = cdf + v * pdf;
        // e^(-x^2/2) in float32 carries x^2/2 times the rounding of x^2 (~6e-8); the composite has the same.
        const tol = 3e-7 * (1 + (v * v) / 2) * (cdf + Math.abs(v) * pdf) + 1e-37;
        expect(Math.abs(got[i]! - want), `x = ${v}: ${got[i]} vs ${want}`).toBeLessThanOrEqual(tol);
      });
      uninstallNativeKernels();
    });

    it('forward and tf.grads equal the stock composite (MLP with GELU, multi-threaded size)', () => {
      const x = filled([4, 65, 256], 70); // [B, T, D], 66,560 elements: threaded
      const w = filled([256, 128], 71);
      const r = filled([4, 65, 128], 72);
      const lossFn = (xv: tf.Tensor, wv: tf.Tensor) => {
        const h = tf.matMul(tf.reshape(xv, [-1, 256]), wv); // [B*T, 128]
        return tf.mean(tf.mul(tf.reshape(geluErf(tf.mul(h, 0.3)), [4, 65, 128]), r));
      };
      const run = () => {
        const y = geluErf(x);
        const { value, grads } = tf.valueAndGrads(lossFn)([x, w]);
        const r2 = tf.concat([r, r], -1); // [B, T, D]
        const dx = tf.grad((xv: tf.Tensor) => tf.sum(tf.mul(geluErf(xv), r2)))(x);
        r2.dispose();
        return [y, value, ...grads, dx];
      };
      const [stock, native] = stockAndNative(run, readAll);
      expect(native.length).toBe(5);
      for (let i = 0; i < stock.length; i++) expect(relErr(native[i]!, stock[i]!)).toBeLessThan(2e-6);
      tf.dispose([x, w, r]);
    });
  },
);
