import { Rng, selectBackend } from '@qlip/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  activation,
  fromStorage,
  initParams,
  layerNorm,
  linear,
  linearSpecs,
  type Params,
  storageShape,
  toStorage,
} from '../src/index.js';

function paramsOf(entries: Record<string, tf.Tensor>): Params {
  return new Map(Object.entries(entries).map(([k, v]) => [k, tf.variable(v)]));
}

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (!(Math.abs(actual[i]! - expected[i]!) <= atol)) {
      throw new Error(`element ${i}: got ${actual[i]}, expected ${expected[i]} (atol ${atol})`);
    }
  }
}

describe.each(['cpu', 'wasm'])('layers on %s', (backend) => {
  beforeAll(async () => {
    await selectBackend(backend);
  });

  it('linear uses the [in, out] storage layout and adds the bias', () => {
    // Official weight [out=2, in=3]: rows are output units.
    const official = new Float32Array([1, 2, 3, 4, 5, 6]);
    const spec = { shape: [2, 3], layout: 'linear' as const };
    const stored = toStorage(spec, official);
    expect(storageShape(spec)).toEqual([3, 2]);
    expect([...stored]).toEqual([1, 4, 2, 5, 3, 6]);
    expect([...fromStorage(spec, stored)]).toEqual([...official]);
    const params = paramsOf({ 'fc.weight': tf.tensor2d(stored, [3, 2]), 'fc.bias': tf.tensor1d([0.5, -1]) });
    const x = tf.tensor3d([1, 0, -1, 2, 1, 0], [1, 2, 3]);
    const y = linear(params, 'fc', x);
    expect(y.shape).toEqual([1, 2, 2]);
    // [1,0,-1]: 1-3+0.5=-1.5, 4-6-1=-3; [2,1,0]: 2+2+0.5=4.5, 8+5-1=12
    close(y.dataSync(), [-1.5, -3, 4.5, 12], 1e-6);
  });

  it('linear rejects a feature mismatch naming the layer', () => {
    const params = paramsOf({ 'a.b.weight': tf.zeros([3, 2]) });
    expect(() => linear(params, 'a.b', tf.zeros([1, 4]))).toThrow(/"a\.b".*4 features.*expects 3/);
  });

  it('layerNorm matches a hand computation (biased variance, eps inside the sqrt)', () => {
    const params = paramsOf({
      'ln.weight': tf.tensor1d([1, 2, 0.5, 1]),
      'ln.bias': tf.tensor1d([0, 1, 0, -1]),
    });
    const x = [1, 2, 3, 6];
    const mean = 3;
    const variance = (4 + 1 + 0 + 9) / 4;
    const eps = 1e-5;
    const inv = 1 / Math.sqrt(variance + eps);
    const expected = [(1 - mean) * inv * 1, (2 - mean) * inv * 2 + 1, 0, (6 - mean) * inv - 1];
    close(layerNorm(params, 'ln', tf.tensor2d(x, [1, 4]), eps).dataSync(), expected, 1e-6);
  });

  it('layerNorm gradients (x, weight, bias) match float64 (fused kernels on wasm, stock ops on cpu)', () => {
    const [rows, d] = [3, 5];
    const xs = Array.from({ length: rows * d }, (_, i) => Math.sin(i * 1.7) * 3 + (i % d));
    const ws = [1, -0.5, 2, 0.25, 1.5];
    const bs = [0.1, 0, -0.2, 0.3, 0];
    const dys = Array.from({ length: rows * d }, (_, i) => Math.cos(i * 0.9));
    const eps = 1e-5;
    // float64 reference: dx = rstd (g - mean g - xhat mean(g xhat)), g = dy w; dw = sum dy xhat; db = sum dy
    const want = { x: [] as number[], w: new Array(d).fill(0), b: new Array(d).fill(0) };
    for (let r = 0; r < rows; r++) {
      const row = xs.slice(r * d, (r + 1) * d).map((v) => Math.fround(v));
      const dy = dys.slice(r * d, (r + 1) * d).map((v) => Math.fround(v));
      const mean = row.reduce((a, v) => a + v, 0) / d;
      const rstd = 1 / Math.sqrt(row.reduce((a, v) => a + (v - mean) ** 2, 0) / d + eps);
      const xhat = row.map((v) => (v - mean) * rstd);
      const g = dy.map((v, j) => v * Math.fround(ws[j]!));
      const meanG = g.reduce((a, v) => a + v, 0) / d;
      const meanGx = g.reduce((a, v, j) => a + v * xhat[j]!, 0) / d;
      want.x.push(...g.map((v, j) => rstd * (v - meanG - xhat[j]! * meanGx)));
      dy.forEach((v, j) => {
        want.w[j] += v * xhat[j]!;
        want.b[j] += v;
      });
    }
    const x = tf.tensor2d(xs, [rows, d]);
    const dy = tf.tensor2d(dys, [rows, d]);
    const [dx, dw, db] = tf.grads((xv: tf.Tensor, wv: tf.Tensor, bv: tf.Tensor) =>
      tf.sum(
        tf.mul(
          layerNorm(
            new Map([
              ['ln.weight', wv],
              ['ln.bias', bv],
            ]) as Params,
            'ln',
            xv,
            eps,
          ),
          dy,
        ),
      ),
    )([x, tf.tensor1d(ws), tf.tensor1d(bs)]);
    close(dx!.dataSync(), want.x, 2e-6);
    close(dw!.dataSync(), want.w, 2e-6);
    close(db!.dataSync(), want.b, 1e-6);
  });

  it('activations match their definitions', () => {
    const xs = [-3, -1, -0.25, 0, 0.5, 1, 2.5];
    const x = tf.tensor1d(xs);
    // erf from a high-precision series, independent of tfjs
    const erf = (v: number) => {
      let sum = 0;
      let term = v;
      for (let n = 0; n < 80; n++) {
        sum += term / (2 * n + 1);
        term *= (-v * v) / (n + 1);
      }
      return (2 / Math.sqrt(Math.PI)) * sum;
    };
    const sig = (v: number) => 1 / (1 + Math.exp(-v));
    const ref: Record<string, (v: number) => number> = {
      gelu: (v) => 0.5 * v * (1 + erf(v / Math.SQRT2)),
      quick_gelu: (v) => v * sig(1.702 * v),
      gelu_new: (v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))),
      gelu_pytorch_tanh: (v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))),
      relu: (v) => Math.max(v, 0),
      silu: (v) => v * sig(v),
    };
    expect(ref.gelu!(1)).toBeCloseTo(0.8413447460685429, 12);
    for (const [name, fn] of Object.entries(ref)) {
      close(activation(name, x).dataSync(), xs.map(fn), 2e-6);
    }
    expect(() => activation('gelu_fast', x)).toThrow(/unsupported hidden_act "gelu_fast"/);
  });

  it('initParams is deterministic per seed and follows each init rule', () => {
    const specs = [
      ...linearSpecs('a', 64, 32),
      { name: 'ln.weight', shape: [8], layout: 'plain' as const, init: { kind: 'ones' as const } },
    ];
    const p1 = initParams(specs, new Rng(7));
    const p2 = initParams(specs, new Rng(7));
    const p3 = initParams(specs, new Rng(8));
    const w1 = p1.get('a.weight')!.dataSync();
    expect(p1.get('a.weight')!.shape).toEqual([64, 32]);
    expect([...w1]).toEqual([...p2.get('a.weight')!.dataSync()]);
    expect([...w1]).not.toEqual([...p3.get('a.weight')!.dataSync()]);
    const maxAbs = w1.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    expect(maxAbs).toBeLessThanOrEqual(0.04 + 1e-7);
    const std = Math.sqrt(w1.reduce((s, v) => s + v * v, 0) / w1.length);
    expect(std).toBeGreaterThan(0.014);
    expect(std).toBeLessThan(0.02);
    expect([...p1.get('a.bias')!.dataSync()].every((v) => v === 0)).toBe(true);
    expect([...p1.get('ln.weight')!.dataSync()].every((v) => v === 1)).toBe(true);
  });
});
