import * as tf from '@tensorflow/tfjs-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  currentIsa,
  installNativeKernels,
  setIsa,
  setThreads,
  uninstallNativeKernels,
} from '../src/index.js';
import { filled, skipReason, stockAndNative, useWasm } from './helpers.js';

const suffix = skipReason ? ` (skipped: ${skipReason})` : '';

/** Host copy of any dtype, disposing the tensor. */
const readAny = (t: tf.Tensor): Float32Array[] => {
  const d = t.dataSync();
  t.dispose();
  return [Float32Array.from(d as Float32Array)];
};

/** Plain reference transpose on the host (independent of both kernels). */
function reference(data: ArrayLike<number>, shape: number[], perm: number[]): number[] {
  const outShape = perm.map((p) => shape[p]);
  const inStrides = shape.map((_, d) => shape.slice(d + 1).reduce((a, c) => a * c, 1));
  const n = shape.reduce((a, c) => a * c, 1);
  const out = new Array<number>(n);
  for (let o = 0; o < n; o++) {
    let rem = o;
    let src = 0;
    for (let j = outShape.length - 1; j >= 0; j--) {
      src += (rem % outShape[j]) * inStrides[perm[j]];
      rem = Math.floor(rem / outShape[j]);
    }
    out[o] = data[src];
  }
  return out;
}

/** Every permutation of 0..r-1 (r <= 4), else a fixed varied set. */
function perms(r: number): number[][] {
  if (r <= 4) {
    const all: number[][] = [];
    const go = (pre: number[]) => {
      if (pre.length === r) all.push(pre);
      else for (let i = 0; i < r; i++) if (!pre.includes(i)) go([...pre, i]);
    };
    go([]);
    return all;
  }
  if (r === 5)
    return [
      [0, 1, 2, 3, 4],
      [2, 0, 3, 1, 4],
      [4, 3, 2, 1, 0],
      [0, 2, 1, 4, 3],
      [1, 0, 2, 3, 4],
    ];
  return [
    [0, 1, 2, 3, 4, 5],
    [0, 1, 3, 2, 4, 5],
    [0, 2, 4, 1, 3, 5],
    [0, 1, 3, 5, 2, 4],
    [5, 4, 3, 2, 1, 0],
  ];
}

const SHAPES: number[][] = [
  [7],
  [1],
  [5, 9],
  [33, 70],
  [1, 13],
  [3, 1, 5],
  [4, 6, 5],
  [2, 65, 4, 16], // attention [B, T, H, D] with an odd T
  [3, 1, 7, 2],
  [2, 3, 1, 4, 5],
  [2, 3, 4, 3, 2],
  [2, 2, 3, 2, 3, 3], // patchify [B, h, p, w, p, C]
  [1, 3, 2, 1, 5, 2],
];

describe.skipIf(skipReason)(`native Transpose equals stock${suffix}`, () => {
  beforeAll(useWasm);
  afterAll(() => uninstallNativeKernels());

  it('a hand-checked 2x3 case', () => {
    installNativeKernels();
    const t = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
    expect(Array.from(tf.transpose(t).dataSync())).toEqual([1, 4, 2, 5, 3, 6]);
    t.dispose();
  });

  for (const shape of SHAPES) {
    it(`float32 [${shape}] under every tested perm (ranks 1-6)`, () => {
      const x = filled(shape, shape.length + shape[0]);
      const host = x.dataSync();
      for (const perm of perms(shape.length)) {
        const [[s], [n]] = stockAndNative(() => tf.transpose(x, perm), readAny);
        expect(Array.from(n), `perm [${perm}]`).toEqual(Array.from(s));
        expect(Array.from(n), `perm [${perm}] vs reference`).toEqual(reference(host, shape, perm));
      }
      x.dispose();
    });
  }

  it('int32 keeps its dtype and every bit (negatives, large values)', () => {
    const shape = [3, 5, 4, 2];
    const v = Int32Array.from({ length: 120 }, (_, i) => (i * 2654435761) | 0);
    const x = tf.tensor(v, shape, 'int32');
    for (const perm of [
      [0, 2, 1, 3],
      [3, 2, 1, 0],
      [1, 0, 3, 2],
    ]) {
      installNativeKernels();
      const y = tf.transpose(x, perm);
      expect(y.dtype).toBe('int32');
      expect(Array.from(y.dataSync())).toEqual(reference(v, shape, perm));
      y.dispose();
    }
    x.dispose();
  });

  it('bool goes to the stock kernel and still works', () => {
    installNativeKernels();
    const x = tf.tensor2d([true, false, false, true, true, false], [2, 3], 'bool');
    const y = tf.transpose(x);
    expect(y.dtype).toBe('bool');
    expect(Array.from(y.dataSync())).toEqual([1, 1, 0, 1, 0, 0]); // [[1, 0, 0], [1, 1, 0]]^T;
    tf.dispose([x, y]);
  });

  it('empty tensors and scalars', () => {
    installNativeKernels();
    const e = tf.transpose(tf.zeros([3, 0, 2]), [2, 0, 1]);
    expect(e.shape).toEqual([2, 3, 0]);
    const s = tf.transpose(tf.scalar(4));
    expect(Array.from(s.dataSync())).toEqual([4]);
    tf.dispose([e, s]);
  });

  it('the threaded paths (large tensors) give the same bits with one and two threads', () => {
    installNativeKernels();
    for (const [shape, perm] of [
      [
        [8, 65, 8, 130],
        [0, 2, 1, 3],
      ], // contiguous runs
      [
        [300, 1030],
        [1, 0],
      ], // 2-D tiles with ragged edges
      [
        [4, 33, 70, 31],
        [0, 3, 2, 1],
      ], // batched planes
    ] as [number[], number[]][]) {
      const x = filled(shape, 11);
      setThreads(1);
      const [one] = readAny(tf.transpose(x, perm));
      setThreads(2);
      const [two] = readAny(tf.transpose(x, perm));
      expect(Array.from(two)).toEqual(Array.from(one));
      // The 8x8 blocks have a vector (AVX) and a portable version; setIsa switches both kernels.
      const isa = currentIsa();
      setIsa('portable');
      const [portable] = readAny(tf.transpose(x, perm));
      setIsa(isa);
      expect(Array.from(portable)).toEqual(Array.from(one));
      expect(Array.from(one.subarray(0, 4000))).toEqual(reference(x.dataSync(), shape, perm).slice(0, 4000));
      x.dispose();
    }
  });
});

describe.skipIf(skipReason)(`Transpose installation and gradients${suffix}`, () => {
  const saved = process.env.QLIP_NATIVE;
  beforeAll(useWasm);
  afterEach(() => {
    if (saved === undefined) delete process.env.QLIP_NATIVE;
    else process.env.QLIP_NATIVE = saved;
    uninstallNativeKernels();
  });

  it('install replaces Transpose, uninstall restores stock, QLIP_NATIVE=0 keeps stock', () => {
    uninstallNativeKernels();
    const stock = tf.getKernel(tf.Transpose, 'wasm')!.kernelFunc;
    process.env.QLIP_NATIVE = '0';
    expect(installNativeKernels()).toBeUndefined();
    expect(tf.getKernel(tf.Transpose, 'wasm')!.kernelFunc).toBe(stock);
    delete process.env.QLIP_NATIVE;
    expect(installNativeKernels()).toBeDefined();
    expect(tf.getKernel(tf.Transpose, 'wasm')!.kernelFunc).not.toBe(stock);
    uninstallNativeKernels();
    expect(tf.getKernel(tf.Transpose, 'wasm')!.kernelFunc).toBe(stock);
  });

  it('gradients of a transpose-heavy function (head split/merge, patchify, weight transposes)', () => {
    const [B, T, H, D] = [2, 6, 3, 4];
    const x = filled([B, T, H * D], 1); // [B, T, H*D]
    const w = filled([H * D, H * D], 2);
    const img = filled([B, 4, 6, 2], 3); // [B, h*p, w*p, C], p = 2
    const lossFn = (xv: tf.Tensor, wv: tf.Tensor, iv: tf.Tensor) => {
      const h = tf.transpose(
        tf.reshape(tf.matMul(tf.reshape(xv, [B * T, H * D]), tf.transpose(wv)), [B, T, H, D]),
        [0, 2, 1, 3],
      ); // [B, H, T, D]
      const merged = tf.reshape(tf.transpose(tf.mul(h, h), [0, 2, 1, 3]), [B, T, H * D]);
      const patches = tf.reshape(tf.transpose(tf.reshape(iv, [B, 2, 2, 3, 2, 2]), [0, 1, 3, 2, 4, 5]), [
        B,
        6,
        8,
      ]); // [B, N, p*p*C]
      return tf.add(tf.sum(tf.mul(merged, xv)), tf.sum(tf.square(patches)));
    };
    const run = () => {
      const { value, grads } = tf.valueAndGrads(lossFn)([x, w, img]);
      return [value, ...grads];
    };
    const read = (ts: tf.Tensor[]) => ts.flatMap(readAny);
    const [stock, native] = stockAndNative(run, read);
    expect(native.length).toBe(4);
    for (let i = 0; i < stock.length; i++) expect(Array.from(native[i])).toEqual(Array.from(stock[i]));
  });
});
