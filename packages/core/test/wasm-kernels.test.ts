import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng, selectBackend } from '../src/index.js';

/**
 * The wasm backend has no UnsortedSegmentSum; core registers a host implementation (src/wasm-kernels.ts).
 * Every case runs the same op on wasm and on cpu (the reference kernel) from the same host arrays.
 */

type Backend = 'wasm' | 'cpu';

async function on<T>(backend: Backend, fn: () => T): Promise<T> {
  // tf.setBackend, not selectBackend: selectBackend returns early when it already chose wasm, even after
  // the test switched to cpu, which would silently compare cpu with cpu.
  await tf.setBackend(backend);
  expect(tf.getBackend()).toBe(backend);
  return fn();
}

function randn(rng: Rng, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal());
}

function ints(rng: Rng, n: number, lo: number, hi: number): Int32Array {
  return Int32Array.from({ length: n }, () => lo + rng.int(hi - lo));
}

function segmentSum(
  x: tf.TensorLike,
  xShape: number[],
  ids: Int32Array,
  numSegments: number,
  dtype: 'float32' | 'int32',
) {
  return tf.tidy(() => {
    const out = tf.unsortedSegmentSum(tf.tensor(x, xShape, dtype), tf.tensor1d(ids, 'int32'), numSegments);
    return { shape: out.shape, data: out.dataSync().slice() };
  });
}

/** Float64 loop straight from the definition: out[s] = sum of x[i] over ids[i] == s, other ids dropped. */
function naive(x: ArrayLike<number>, ids: Int32Array, numSegments: number, inner: number): Float64Array {
  const out = new Float64Array(numSegments * inner);
  ids.forEach((s, i) => {
    if (s < 0 || s >= numSegments) return;
    for (let j = 0; j < inner; j++) out[s * inner + j] += x[i * inner + j]!;
  });
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

beforeAll(async () => {
  const info = await selectBackend('wasm');
  expect(info.name).toBe('wasm');
  expect(tf.getKernel(tf.UnsortedSegmentSum, 'wasm')).toBeDefined();
});

describe('UnsortedSegmentSum on wasm', () => {
  const cases: { name: string; xShape: number[]; numSegments: number; lo: number; hi: number }[] = [
    { name: '1-D x, ids in range', xShape: [50], numSegments: 7, lo: 0, hi: 7 },
    { name: '2-D x, negative and too-large ids dropped', xShape: [40, 6], numSegments: 5, lo: -3, hi: 9 },
    { name: '4-D x, many repeats', xShape: [33, 2, 3, 4], numSegments: 4, lo: -1, hi: 5 },
    {
      name: 'more segments than rows (empty segments are zero)',
      xShape: [3, 5],
      numSegments: 11,
      lo: 0,
      hi: 11,
    },
    { name: 'every id out of range', xShape: [6, 2], numSegments: 3, lo: 3, hi: 8 },
  ];
  for (const c of cases) {
    it(`forward equals cpu and a float64 loop: ${c.name}`, async () => {
      const rng = new Rng(c.xShape.length * 101 + c.numSegments);
      const n = c.xShape[0]!;
      const inner = c.xShape.slice(1).reduce((a, v) => a * v, 1);
      const x = randn(rng, n * inner);
      const ids = ints(rng, n, c.lo, c.hi);
      const w = await on('wasm', () => segmentSum(x, c.xShape, ids, c.numSegments, 'float32'));
      const cpu = await on('cpu', () => segmentSum(x, c.xShape, ids, c.numSegments, 'float32'));
      expect(w.shape).toEqual([c.numSegments, ...c.xShape.slice(1)]);
      expect(w.shape).toEqual(cpu.shape);
      expect(maxAbsDiff(w.data, cpu.data)).toBeLessThan(1e-5);
      expect(maxAbsDiff(w.data, naive(x, ids, c.numSegments, inner))).toBeLessThan(1e-5);
    });
  }

  it('int32 x sums exactly and stays int32', async () => {
    const rng = new Rng(5);
    const x = ints(rng, 30 * 3, -1000, 1000);
    const ids = ints(rng, 30, -2, 6);
    const w = await on('wasm', () =>
      tf.tidy(() => {
        const out = tf.unsortedSegmentSum(tf.tensor2d(x, [30, 3], 'int32'), tf.tensor1d(ids, 'int32'), 4);
        expect(out.dtype).toBe('int32');
        return out.dataSync().slice();
      }),
    );
    const cpu = await on('cpu', () => segmentSum(x, [30, 3], ids, 4, 'int32'));
    expect([...w]).toEqual([...cpu.data]);
    expect([...w]).toEqual([...naive(x, ids, 4, 3)]);
  });

  it('a fresh output buffer each call (no stale sums from a previous call)', async () => {
    await on('wasm', () => {
      const a = segmentSum(new Float32Array([1, 2, 3]), [3], new Int32Array([0, 0, 1]), 2, 'float32');
      const b = segmentSum(new Float32Array([10, 20, 30]), [3], new Int32Array([1, 1, 1]), 2, 'float32');
      expect([...a.data]).toEqual([3, 3]);
      expect([...b.data]).toEqual([0, 60]);
    });
  });
});

describe('gather gradient on wasm (uses UnsortedSegmentSum)', () => {
  const cases: { name: string; params: number[]; indices: number[]; axis: number; hi: number }[] = [
    {
      name: 'embedding lookup [V, D], 2-D indices with repeats',
      params: [9, 4],
      indices: [3, 7],
      axis: 0,
      hi: 9,
    },
    { name: 'axis 1 of a 3-D params', params: [2, 6, 3], indices: [10], axis: 1, hi: 6 },
    { name: 'every row picks the same index', params: [5, 3], indices: [8], axis: 0, hi: 1 },
  ];
  for (const c of cases) {
    it(`d(sum(gather * w))/dparams equals cpu: ${c.name}`, async () => {
      const rng = new Rng(c.params.reduce((a, v) => a * 7 + v, c.axis));
      const size = (s: number[]) => s.reduce((a, v) => a * v, 1);
      const p = randn(rng, size(c.params));
      const idx = ints(rng, size(c.indices), 0, c.hi);
      // Repeated indices are the point: their upstream gradients must add up.
      expect(new Set(idx).size).toBeLessThan(idx.length);
      const outShape = [...c.params.slice(0, c.axis), ...c.indices, ...c.params.slice(c.axis + 1)];
      const weights = randn(rng, size(outShape));
      const grad = () =>
        tf.tidy(() => {
          const indices = tf.tensor(idx, c.indices, 'int32');
          const w = tf.tensor(weights, outShape);
          const g = tf.grad((params: tf.Tensor) => tf.sum(tf.mul(tf.gather(params, indices, c.axis), w)))(
            tf.tensor(p, c.params),
          );
          return { shape: g.shape, data: g.dataSync().slice() };
        });
      const w = await on('wasm', grad);
      const cpu = await on('cpu', grad);
      expect(w.shape).toEqual(c.params);
      expect(cpu.shape).toEqual(c.params);
      expect(maxAbsDiff(w.data, cpu.data)).toBeLessThan(1e-5);
      // Rows never gathered get exactly zero gradient (axis 0 cases).
      if (c.axis === 0) {
        const inner = size(c.params.slice(1));
        for (let r = 0; r < c.params[0]!; r++)
          if (!idx.includes(r))
            expect([...w.data.subarray(r * inner, (r + 1) * inner)].every((v) => v === 0)).toBe(true);
      }
    });
  }
});
