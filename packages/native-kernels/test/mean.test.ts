import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { installNativeKernels, loadNative, uninstallNativeKernels } from '../src/index.js';
import { filled, readAll, skipReason, stockAndNative, useWasm } from './helpers.js';

const kernelOf = (name: string) => tf.getKernel(name, 'wasm')?.kernelFunc;

describe.skipIf(skipReason)(`native Mean${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  beforeAll(useWasm);
  afterAll(() => uninstallNativeKernels());

  it('Mean over leading, trailing, middle and all axes equals the stock kernel bit for bit', () => {
    const cases: [number[], number | number[], boolean][] = [
      [[64, 65, 256], -1, true], // LayerNorm statistics, threaded
      [[2048, 2, 512], 0, false], // BSQ codebook entropy: mean over tokens, threaded
      [[33, 7], 0, true],
      [[6, 5, 4, 3], [1, 2], false], // middle axes
      [[6, 5, 4, 3], [0, 1, 2, 3], false], // everything
      [[6, 5, 4, 3], [3, 0, 1, 2], false], // unsorted: the stock kernel (it transposes first)
      [[1000], 0, false],
      [[6, 5, 4], [0, 2], false], // not adjacent: the stock kernel
      [[3, 0, 4], 0, false], // empty: the stock kernel
    ];
    const shapes: number[][] = [];
    const sums = vi.spyOn(loadNative()!, 'sum');
    const [stock, native] = stockAndNative(() => {
      const out = cases.map(([shape, axis, keep], i) => {
        const x = filled(shape, 80 + i);
        const m = tf.mean(tf.mul(x, 3.3), axis, keep); // scaled so sums round
        x.dispose();
        return m;
      });
      shapes.push(...out.map((t) => t.shape));
      return out;
    }, readAll);
    expect(sums).toHaveBeenCalledTimes(6); // the native path ran where it applies
    sums.mockRestore();
    expect(shapes.slice(cases.length)).toEqual(shapes.slice(0, cases.length));
    for (let i = 0; i < stock.length; i++) {
      expect(Array.from(native[i]!), `case ${i}`).toEqual(Array.from(stock[i]!));
    }
    // Exact small case and int32 (stock kernel, float32 result as stock tfjs gives).
    installNativeKernels();
    expect(Array.from(tf.mean(tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]), 1).dataSync())).toEqual([2, 5]);
    const ints = tf.mean(tf.tensor1d([1, 2], 'int32'));
    expect(ints.dtype).toBe('float32');
    expect(ints.dataSync()[0]).toBe(1.5);
  });

  it('QLIP_NATIVE_MEAN=0 keeps the stock kernel', () => {
    uninstallNativeKernels();
    const stockMean = kernelOf(tf.Mean);
    const stockSum = kernelOf(tf.Sum);
    installNativeKernels();
    expect(kernelOf(tf.Mean)).not.toBe(stockMean);
    uninstallNativeKernels();
    process.env.QLIP_NATIVE_MEAN = '0';
    try {
      installNativeKernels();
      expect(kernelOf(tf.Mean)).toBe(stockMean);
      expect(kernelOf(tf.Sum)).not.toBe(stockSum); // the other families stay native
    } finally {
      delete process.env.QLIP_NATIVE_MEAN;
      uninstallNativeKernels();
    }
  });
});
