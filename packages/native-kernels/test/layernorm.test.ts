import { FUSED_KERNELS, layerNorm } from '@qlip/nn';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  type Isa,
  installNativeKernels,
  loadNative,
  setIsa,
  setThreads,
  supportedIsas,
  uninstallNativeKernels,
} from '../src/index.js';
import { filled, readAll, relErr, skipReason, stockAndNative, useWasm } from './helpers.js';

/** LayerNorm forward and gradients for dy in float64 (two-pass statistics, biased variance). */
function reference(x: Float32Array, gamma: Float32Array, beta: Float32Array, dy: Float32Array, eps: number) {
  const d = gamma.length;
  const rows = x.length / d;
  const y = new Float64Array(x.length);
  const dx = new Float64Array(x.length);
  const dgamma = new Float64Array(d);
  const dbeta = new Float64Array(d);
  for (let r = 0; r < rows; r++) {
    const row = (j: number) => x[r * d + j]!;
    let mean = 0;
    for (let j = 0; j < d; j++) mean += row(j) / d;
    let variance = 0;
    for (let j = 0; j < d; j++) variance += (row(j) - mean) ** 2 / d;
    const rstd = 1 / Math.sqrt(variance + eps);
    let meanG = 0;
    let meanGx = 0;
    for (let j = 0; j < d; j++) {
      const xhat = (row(j) - mean) * rstd;
      const g = dy[r * d + j]! * gamma[j]!;
      y[r * d + j] = xhat * gamma[j]! + beta[j]!;
      meanG += g / d;
      meanGx += (g * xhat) / d;
      dgamma[j] += dy[r * d + j]! * xhat;
      dbeta[j] += dy[r * d + j]!;
    }
    for (let j = 0; j < d; j++) {
      const xhat = (row(j) - mean) * rstd;
      dx[r * d + j] = rstd * (dy[r * d + j]! * gamma[j]! - meanG - xhat * meanGx);
    }
  }
  return { y, dx, dgamma, dbeta };
}

/** max |got - want| / max |want|, the reference in float64. */
function err64(got: Float32Array, want: Float64Array): number {
  let e = 0;
  let scale = 1e-30;
  for (let i = 0; i < want.length; i++) {
    e = Math.max(e, Math.abs(got[i]! - want[i]!));
    scale = Math.max(scale, Math.abs(want[i]!));
  }
  return e / scale;
}

/** The fused op and its three gradients for the loss sum(LayerNorm(x) * dy), read back. */
function fusedWithGrads(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, dy: tf.Tensor, eps: number) {
  const params = new Map([
    ['ln.weight', gamma],
    ['ln.bias', beta],
  ]);
  const y = layerNorm(params, 'ln', x, eps);
  const grads = tf.grads((xv: tf.Tensor, gv: tf.Tensor, bv: tf.Tensor) => {
    const p = new Map([
      ['ln.weight', gv],
      ['ln.bias', bv],
    ]);
    return tf.sum(tf.mul(layerNorm(p, 'ln', xv, eps), dy));
  })([x, gamma, beta]);
  return readAll([y, ...grads]);
}

// Row lengths: 1, a vector tail (37), one AVX-512 vector (16), the models' 256 and 1000 (tails on every ISA).
const SHAPES: number[][] = [
  [3, 1],
  [5, 37],
  [2, 3, 16],
  [4, 65, 256], // 66,560 elements: threaded
  [9, 1000],
];

describe.skipIf(skipReason)(`fused LayerNorm kernels${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  beforeAll(useWasm);
  afterAll(() => {
    setIsa(supportedIsas()[0]!);
    uninstallNativeKernels();
  });

  it('registers @qlip/nn FUSED_KERNELS on wasm, removes them on uninstall, QLIP_NATIVE_LAYERNORM=0 skips them', () => {
    installNativeKernels();
    expect(tf.getKernel(FUSED_KERNELS.layerNorm, 'wasm')).toBeDefined();
    expect(tf.getKernel(FUSED_KERNELS.layerNormGrad, 'wasm')).toBeDefined();
    uninstallNativeKernels();
    expect(tf.getKernel(FUSED_KERNELS.layerNorm, 'wasm')).toBeUndefined();
    process.env.QLIP_NATIVE_LAYERNORM = '0';
    try {
      installNativeKernels();
      expect(tf.getKernel(FUSED_KERNELS.layerNorm, 'wasm')).toBeUndefined();
      expect(tf.getKernel(FUSED_KERNELS.geluErf, 'wasm')).toBeDefined();
    } finally {
      delete process.env.QLIP_NATIVE_LAYERNORM;
      uninstallNativeKernels();
    }
  });

  it('forward and all three gradients within float32 reach of float64, on every ISA path', () => {
    installNativeKernels();
    const calls = vi.spyOn(loadNative()!, 'layerNormGrad');
    for (const isa of supportedIsas() as Isa[]) {
      expect(setIsa(isa)).toBe(true);
      SHAPES.forEach((shape, i) => {
        const d = shape[shape.length - 1]!;
        const x = tf.add(tf.mul(filled(shape, 100 + i), 1.7), 0.3); // [..., D]
        const gamma = tf.add(filled([d], 110 + i), 1);
        const beta = filled([d], 120 + i);
        const dy = filled(shape, 130 + i);
        const eps = 1e-5;
        const [y, dx, dgamma, dbeta] = fusedWithGrads(x, gamma, beta, dy, eps);
        const want = reference(
          ...([x, gamma, beta, dy].map((t) => t.dataSync()) as [
            Float32Array,
            Float32Array,
            Float32Array,
            Float32Array,
          ]),
          eps,
        );
        const where = `${isa} [${shape}]`;
        expect(err64(y!, want.y), `y ${where}`).toBeLessThan(5e-7);
        expect(err64(dx!, want.dx), `dx ${where}`).toBeLessThan(d === 1 ? 1e-30 : 5e-7); // a constant row: exactly 0
        expect(err64(dgamma!, want.dgamma), `dgamma ${where}`).toBeLessThan(5e-7);
        expect(err64(dbeta!, want.dbeta), `dbeta ${where}`).toBeLessThan(5e-7);
        tf.dispose([x, gamma, beta, dy]);
      });
    }
    expect(calls).toHaveBeenCalledTimes(SHAPES.length * supportedIsas().length); // the fused backward ran
    calls.mockRestore();
  });

  it('a row offset by 1000 (mean >> spread): two-pass statistics, no worse than the stock composite', () => {
    const x = tf.add(filled([64, 256], 140), 1000); // [rows, D]
    const gamma = tf.ones([256]);
    const beta = tf.zeros([256]);
    const dy = filled([64, 256], 141);
    const [stock, native] = stockAndNative(
      () => [
        layerNorm(
          new Map([
            ['ln.weight', gamma],
            ['ln.bias', beta],
          ]),
          'ln',
          x,
          1e-6,
        ),
      ],
      readAll,
    );
    const want = reference(
      ...([x, gamma, beta, dy].map((t) => t.dataSync()) as [
        Float32Array,
        Float32Array,
        Float32Array,
        Float32Array,
      ]),
      1e-6,
    );
    expect(err64(native[0]!, want.y)).toBeLessThanOrEqual(Math.max(err64(stock[0]!, want.y), 1e-5));
    tf.dispose([x, gamma, beta, dy]);
  });

  it('forward and tf.grads equal the stock composite (a pre-LN residual block, multi-threaded size)', () => {
    const x = filled([4, 65, 256], 150); // [B, T, D]
    const gamma = tf.add(filled([256], 151), 1);
    const beta = filled([256], 152);
    const w = filled([256, 256], 153);
    const r = filled([4, 65, 256], 154);
    const params = (g: tf.Tensor, b: tf.Tensor) =>
      new Map([
        ['ln.weight', g],
        ['ln.bias', b],
      ]);
    const lossFn = (xv: tf.Tensor, gv: tf.Tensor, bv: tf.Tensor) => {
      const h = tf.reshape(layerNorm(params(gv, bv), 'ln', xv, 1e-5), [-1, 256]); // [B*T, D]
      const out = tf.add(xv, tf.reshape(tf.matMul(h, w), [4, 65, 256])); // residual [B, T, D]
      return tf.sum(tf.mul(layerNorm(params(gv, bv), 'ln', out, 1e-5), r));
    };
    const run = () => {
      const { value, grads } = tf.valueAndGrads(lossFn)([x, gamma, beta]);
      return [layerNorm(params(gamma, beta), 'ln', x, 1e-5), value, ...grads];
    };
    const [stock, native] = stockAndNative(run, readAll);
    expect(native.length).toBe(5);
    for (let i = 0; i < stock.length; i++)
      expect(relErr(native[i]!, stock[i]!), `output ${i}`).toBeLessThan(1e-5);
    tf.dispose([x, gamma, beta, w, r]);
  });

  it('the same bits on one thread and two (dgamma and dbeta summed in fixed row blocks)', () => {
    installNativeKernels();
    const x = filled([8, 65, 256], 160);
    const gamma = tf.add(filled([256], 161), 1);
    const beta = filled([256], 162);
    const dy = filled([8, 65, 256], 163);
    setThreads(1);
    const one = fusedWithGrads(x, gamma, beta, dy, 1e-5);
    setThreads(2);
    const two = fusedWithGrads(x, gamma, beta, dy, 1e-5);
    installNativeKernels(); // back to QLIP_NATIVE_THREADS or the default
    for (let i = 0; i < one.length; i++) expect(Array.from(two[i]!)).toEqual(Array.from(one[i]!));
    tf.dispose([x, gamma, beta, dy]);
  });

  it('without the gradient kernel the fused forward differentiates through stock ops', () => {
    installNativeKernels();
    const x = filled([6, 40], 170);
    const gamma = tf.add(filled([40], 171), 1);
    const beta = filled([40], 172);
    const dy = filled([6, 40], 173);
    const fused = fusedWithGrads(x, gamma, beta, dy, 1e-5);
    const grad = tf.getKernel(FUSED_KERNELS.layerNormGrad, 'wasm')!;
    tf.unregisterKernel(FUSED_KERNELS.layerNormGrad, 'wasm');
    try {
      const composite = fusedWithGrads(x, gamma, beta, dy, 1e-5);
      for (let i = 0; i < fused.length; i++) expect(relErr(composite[i]!, fused[i]!)).toBeLessThan(2e-6);
    } finally {
      tf.registerKernel(grad);
    }
    tf.dispose([x, gamma, beta, dy]);
  });
});
