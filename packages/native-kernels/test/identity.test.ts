import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installNativeKernels, uninstallNativeKernels } from '../src/index.js';
import { filled, readAll, skipReason, stockAndNative, useWasm } from './helpers.js';

interface BackendData {
  dataIdMap: { has(dataId: object): boolean };
}

describe.skipIf(skipReason)(`zero-copy Identity${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  beforeAll(useWasm);
  afterAll(() => uninstallNativeKernels());

  it('shares the buffer, keeps the values after the source is disposed, frees it with the last user', () => {
    installNativeKernels();
    const onHeap = (t: tf.Tensor) => (tf.backend() as unknown as BackendData).dataIdMap.has(t.dataId);
    const x = filled([64, 256], 1);
    const y = tf.clone(x);
    expect(y.dataId).toBe(x.dataId); // no copy
    const i32 = tf.cast(x, 'int32');
    const z = tf.clone(i32); // int32 too
    expect(z.dataId).toBe(i32.dataId);
    i32.dispose();
    expect(Array.from(z.dataSync()).slice(0, 4)).toEqual(
      Array.from(x.dataSync()).slice(0, 4).map(Math.trunc),
    );
    const ref = Float32Array.from(x.dataSync() as Float32Array);
    x.dispose();
    expect(onHeap(y)).toBe(true);
    expect(Array.from(y.dataSync())).toEqual(Array.from(ref)); // still valid after the source is gone
    y.dispose();
    expect(onHeap(y)).toBe(false); // freed with the last reference
    z.dispose();
  });

  it('a Cast to the same dtype shares the buffer; a real conversion still converts', () => {
    installNativeKernels();
    const x = filled([8, 16], 6);
    const same = tf.cast(x, 'float32');
    expect(same.dataId).toBe(x.dataId);
    const toInt = tf.cast(tf.mul(x, 10), 'int32');
    expect(toInt.dtype).toBe('int32');
    expect(Array.from(toInt.dataSync())).toEqual(
      Array.from(tf.mul(x, 10).dataSync()).map((v) => Math.trunc(v) + 0),
    ); // + 0: an int32 has no -0
    const back = tf.cast(toInt, 'float32');
    expect(back.dataId).not.toBe(toInt.dataId);
    expect(back.dtype).toBe('float32');
    x.dispose();
    expect(Array.from(same.dataSync()).length).toBe(128); // still valid after the source is gone
    tf.dispose([same, toInt, back]);
  });

  it('results and gradients equal the stock kernel (clone, identity gradients, an Adam step on variables)', () => {
    const run = () => {
      const w = tf.variable(filled([12, 8], 2));
      const b = tf.variable(filled([8], 3));
      const x = filled([5, 12], 4);
      const opt = tf.train.adam(0.01);
      const loss = () => tf.sum(tf.square(tf.clone(tf.add(tf.matMul(x, w), b)))) as tf.Scalar;
      const { value, grads } = tf.variableGrads(loss);
      opt.applyGradients(grads);
      opt.minimize(loss);
      const out = [value, ...Object.values(grads), tf.clone(w), tf.clone(b)];
      opt.dispose();
      w.dispose();
      b.dispose();
      x.dispose();
      return out;
    };
    const [stock, native] = stockAndNative(run, readAll);
    expect(native.length).toBe(5);
    for (let i = 0; i < stock.length; i++) expect(Array.from(native[i]!)).toEqual(Array.from(stock[i]!));
  });

  it('QLIP_NATIVE_IDENTITY=0 keeps the stock copying kernel', () => {
    uninstallNativeKernels();
    process.env.QLIP_NATIVE_IDENTITY = '0';
    try {
      installNativeKernels();
      const x = filled([16, 16], 5);
      const y = tf.clone(x);
      expect(y.dataId).not.toBe(x.dataId);
      tf.dispose([x, y]);
    } finally {
      delete process.env.QLIP_NATIVE_IDENTITY;
      uninstallNativeKernels();
    }
  });
});
