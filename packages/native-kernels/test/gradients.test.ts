import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uninstallNativeKernels } from '../src/index.js';
import { filled, readAll, relErr, skipReason, stockAndNative, useWasm } from './helpers.js';

describe.skipIf(skipReason)(
  `gradients through native kernels equal stock${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    beforeAll(useWasm);
    afterAll(() => uninstallNativeKernels());

    it('2-layer MLP (fused bias + relu, then plain matMul): loss and every parameter gradient', () => {
      const x = filled([16, 24], 1); // [B, Din]
      const y = filled([16, 10], 2); // [B, Dout]
      const w1 = filled([24, 32], 3);
      const b1 = filled([32], 4);
      const w2 = filled([32, 10], 5);
      const lossFn = (w1v: tf.Tensor, b1v: tf.Tensor, w2v: tf.Tensor) => {
        const h = tf.fused.matMul({ a: x, b: w1v as tf.Tensor2D, bias: b1v, activation: 'relu' }); // [B, H]
        return tf.mean(tf.square(tf.sub(tf.matMul(h, w2v), y)));
      };
      const run = () => {
        const { value, grads } = tf.valueAndGrads(lossFn)([w1, b1, w2]);
        return [value, ...grads];
      };
      const [stock, native] = stockAndNative(run, readAll);
      expect(native.length).toBe(4);
      for (let i = 0; i < stock.length; i++) expect(relErr(native[i], stock[i])).toBeLessThan(1e-5);
    });

    it('attention-like batched products (q k^T, softmax, p v): gradients for q, k and v', () => {
      const [B, H, T, D] = [2, 3, 10, 8];
      const q = filled([B, H, T, D], 6);
      const k = filled([B, H, T, D], 7);
      const v = filled([B, H, T, D], 8);
      const w = filled([B, H, T, D], 9);
      const lossFn = (qv: tf.Tensor, kv: tf.Tensor, vv: tf.Tensor) => {
        const scores = tf.mul(tf.matMul(qv, kv, false, true), 1 / Math.sqrt(D)); // [B, H, T, T]
        const out = tf.matMul(tf.softmax(scores), vv); // [B, H, T, D]
        return tf.sum(tf.mul(out, w));
      };
      const run = () => {
        const { value, grads } = tf.valueAndGrads(lossFn)([q, k, v]);
        return [value, ...grads];
      };
      const [stock, native] = stockAndNative(run, readAll);
      for (let i = 0; i < stock.length; i++) expect(relErr(native[i], stock[i])).toBeLessThan(1e-5);
    });
  },
);
