import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installNativeKernels, uninstallNativeKernels } from '../src/index.js';
import { filled, readAll, skipReason, stockAndNative, useWasm } from './helpers.js';

describe.skipIf(skipReason)(`native GatherV2${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  beforeAll(useWasm);
  afterAll(() => uninstallNativeKernels());

  it.each([
    ['an embedding lookup [50, 32] by [3, 5]', [50, 32], [3, 5], 0],
    ['a middle axis [4, 9, 20] by [7]', [4, 9, 20], [7], 1],
    ['repeated and first/last rows [10, 16] by [6]', [10, 16], [6], 0],
    ['a thin slice (stock path) [10, 3] by [4]', [10, 3], [4], 0],
    ['the last axis (stock path) [6, 40] by [2]', [6, 40], [2], 1],
  ] as const)('%s: the stock kernel bit for bit, and its gradient', (_n, xShape, idxShape, axis) => {
    const span = xShape[axis]!;
    const count = idxShape.reduce((a, c) => a * c, 1);
    const idx = Int32Array.from({ length: count }, (_, i) => (i * 7 + (i % 2 ? span - 1 : 0)) % span);
    const run = () => {
      const x = filled([...xShape], 1);
      const ix = tf.tensor(idx, [...idxShape], 'int32');
      const y = tf.gather(x, ix, axis);
      const dy = filled(y.shape, 2);
      const [dx] = tf.grads((t: tf.Tensor) => tf.gather(t, ix, axis))([x], dy);
      const intRows = tf.gather(tf.cast(tf.mul(x, 100), 'int32'), ix, axis); // int32 bits too
      tf.dispose([x, ix, dy]);
      return [y, dx!, tf.cast(intRows, 'float32')];
    };
    const [stock, native] = stockAndNative(run, readAll);
    for (let i = 0; i < stock.length; i++)
      expect(Array.from(native[i]!), `output ${i}`).toEqual(Array.from(stock[i]!));
  });

  it('an index out of range is an error naming it; QLIP_NATIVE_GATHER=0 keeps the stock kernel', () => {
    installNativeKernels();
    const x = filled([8, 32], 3);
    const bad = tf.tensor1d([1, 8], 'int32');
    expect(() => tf.gather(x, bad)).toThrow(/index value 8 is not in \[0, 7\]/);
    uninstallNativeKernels();
    const stockKernel = tf.getKernel(tf.GatherV2, 'wasm')?.kernelFunc;
    process.env.QLIP_NATIVE_GATHER = '0';
    try {
      installNativeKernels();
      expect(tf.getKernel(tf.GatherV2, 'wasm')?.kernelFunc).toBe(stockKernel);
      const ok = tf.gather(x, tf.tensor1d([3], 'int32'));
      expect(Array.from(ok.dataSync())).toEqual(Array.from(x.dataSync()).slice(96, 128));
    } finally {
      delete process.env.QLIP_NATIVE_GATHER;
      uninstallNativeKernels();
    }
    tf.dispose([x, bad]);
  });
});
