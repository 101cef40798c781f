import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { installNativeKernels, nativeKernelsInstalled } from '../src/index.js';
import { filled, readTensor, relErr, skipReason } from './helpers.js';

// Its own file (own process): the kernels are installed before the wasm backend initialises, so the stock
// setup (which binds the wasm functions the fallbacks call) must run through the native registration.
describe.skipIf(skipReason)(
  `install before the wasm backend exists${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    it('native products work and stock fallbacks were set up', async () => {
      expect(installNativeKernels()).toBeDefined();
      tf.env().set('PROD', true);
      await tf.setBackend('wasm');
      await tf.ready();
      expect(nativeKernelsInstalled()).toBe(true);
      const a = filled([1, 6, 5], 1);
      const b = filled([1, 5, 4], 2);
      const ref = readTensor(tf.matMul(tf.transpose(filled([1, 5, 6], 1), [0, 2, 1]), b))[0];
      expect(relErr(readTensor(tf.matMul(filled([1, 5, 6], 1), b, true))[0], ref)).toBeLessThan(1e-5);
      // Prelu weights per element (not per column) are left to the stock kernel.
      const w = filled([6, 4], 3);
      const fused = readTensor(tf.fused.matMul({ a, b, activation: 'prelu', preluActivationWeights: w }))[0];
      const unfused = readTensor(tf.prelu(tf.matMul(a, b), w))[0];
      expect(relErr(fused, unfused)).toBeLessThan(1e-5);
    });
  },
);
