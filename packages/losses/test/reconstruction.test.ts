import { selectBackend } from '@qlip/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { l1Loss, l2Loss, reconstructionLoss } from '../src/index.js';

beforeAll(async () => {
  await selectBackend('wasm');
});

describe('reconstruction losses', () => {
  const pred = [0.5, -1, 2, 0, 3, 1.25];
  const target = [0, 1, 2, -1, 1, 1];
  // |d| = .5, 2, 0, 1, 2, .25 -> sum 5.75; d^2 = .25, 4, 0, 1, 4, .0625 -> sum 9.3125
  it('L1 and L2 are means over all elements (hand-computed)', () => {
    const p = tf.tensor(pred, [1, 2, 1, 3]);
    const t = tf.tensor(target, [1, 2, 1, 3]);
    const before = tf.memory().numTensors;
    const l1 = l1Loss(p, t);
    const l2 = l2Loss(p, t);
    expect(l1.dataSync()[0]).toBeCloseTo(5.75 / 6, 6);
    expect(l2.dataSync()[0]).toBeCloseTo(9.3125 / 6, 6);
    expect(reconstructionLoss('l1', p, t).dataSync()[0]).toBeCloseTo(5.75 / 6, 6);
    expect(tf.memory().numTensors).toBe(before + 3);
    tf.dispose([p, t, l1, l2]);
  });

  it('gradients: sign(d)/N for L1, 2d/N for L2', () => {
    const t = tf.tensor(target, [6]);
    const g1 = tf
      .grad((p: tf.Tensor) => l1Loss(p, t))(tf.tensor(pred, [6]))
      .dataSync();
    const g2 = tf
      .grad((p: tf.Tensor) => l2Loss(p, t))(tf.tensor(pred, [6]))
      .dataSync();
    pred.forEach((p, i) => {
      const d = p - target[i]!;
      if (d !== 0) expect(g1[i]).toBeCloseTo(Math.sign(d) / 6, 6);
      expect(g2[i]).toBeCloseTo((2 * d) / 6, 6);
    });
  });

  it('rejects mismatched shapes and unknown kinds', () => {
    const a = tf.zeros([2, 3]);
    const b = tf.zeros([3, 2]);
    expect(() => l1Loss(a, b)).toThrow(/l1Loss.*\[2,3\].*\[3,2\]/);
    expect(() => l2Loss(a, b)).toThrow(/l2Loss/);
    expect(() => reconstructionLoss('l3' as 'l1', a, a)).toThrow(/unknown kind "l3"/);
  });
});
