import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs'; // registers the gradients
import { beforeAll, describe, expect, test } from 'vitest';
import { depthwiseConv2dBackpropInput, depthwiseConv2dFrozen } from '../src/index.js';

// The cpu backend has the native DepthwiseConv2dNativeBackpropInput kernel: the reference here.
beforeAll(async () => {
  await tf.setBackend('cpu');
});

const cases: {
  h: number;
  w: number;
  c: number;
  m: number;
  k: number;
  s: [number, number];
  pad: 'same' | 'valid';
}[] = [
  { h: 7, w: 7, c: 3, m: 1, k: 3, s: [1, 1], pad: 'same' },
  { h: 8, w: 9, c: 2, m: 1, k: 3, s: [2, 2], pad: 'valid' },
  { h: 9, w: 8, c: 2, m: 2, k: 3, s: [2, 1], pad: 'same' },
  { h: 10, w: 10, c: 4, m: 1, k: 5, s: [2, 2], pad: 'same' },
  { h: 6, w: 7, c: 1, m: 3, k: 2, s: [3, 2], pad: 'valid' },
];

describe('depthwise convolution input gradient', () => {
  for (const cs of cases) {
    test(`${cs.h}x${cs.w}x${cs.c} m=${cs.m} k=${cs.k} s=${cs.s} ${cs.pad}`, () => {
      const x = tf.randomNormal([2, cs.h, cs.w, cs.c], 0, 1, 'float32', 1) as tf.Tensor4D;
      const f = tf.randomNormal([cs.k, cs.k, cs.c, cs.m], 0, 1, 'float32', 2) as tf.Tensor4D;
      const y = tf.depthwiseConv2d(x, f, cs.s, cs.pad);
      const dy = tf.randomNormal(y.shape, 0, 1, 'float32', 3) as tf.Tensor4D;
      const want = tf.grad((xx: tf.Tensor) =>
        tf.sum(tf.mul(tf.depthwiseConv2d(xx as tf.Tensor4D, f, cs.s, cs.pad), dy)),
      )(x);
      const got = depthwiseConv2dBackpropInput(dy, f, x.shape, cs.s, cs.pad);
      expect(got.shape).toEqual(x.shape);
      expect(tf.max(tf.abs(tf.sub(got, want))).dataSync()[0]).toBeLessThan(1e-4);
      // Through customGrad: same forward, same gradient.
      const frozen = depthwiseConv2dFrozen(f, cs.s, cs.pad);
      expect(tf.max(tf.abs(tf.sub(frozen(x), y))).dataSync()[0]).toBe(0);
      const viaCustom = tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(frozen(xx as tf.Tensor4D), dy)))(x);
      expect(tf.max(tf.abs(tf.sub(viaCustom, want))).dataSync()[0]).toBeLessThan(1e-4);
    });
  }
});
