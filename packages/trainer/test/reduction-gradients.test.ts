import { selectBackend } from '@qlip/core';
import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { variableGradsFreeing } from '../src/backward.js';

// Its own file: tfjs's stock Sum and Mean gradients must still be registered when the reference is computed.
it("the lean Sum and Mean gradients are bit-identical to tfjs's, over every axis set, and are in use", async () => {
  await selectBackend('wasm');
  const stock = [tf.getGradient(tf.Sum), tf.getGradient(tf.Mean)];
  const x = tf.variable(tf.randomNormal([3, 5, 7, 4], 0, 1, 'float32', 1), true, 'x');
  const w = tf.randomNormal([3, 5, 7, 4], 0, 1, 'float32', 2);
  // Means over leading, trailing, middle, several and all axes, with and without keepDims, weighted so that
  // every element of every dy differs.
  const loss = () =>
    tf.tidy(() => {
      const y = tf.mul(x, w);
      const parts = [
        tf.mean(y, -1),
        tf.mean(y, 0, true),
        tf.mean(y, [1, 2]),
        tf.mean(y, [0, 3], true),
        tf.mean(tf.square(y)),
        tf.sum(y, 2),
        tf.sum(y, [0, 1], true),
        tf.mul(tf.sum(tf.abs(y)), 1e-3),
      ];
      return tf.addN(
        parts.map((p, i) => tf.sum(tf.mul(p, tf.sin(tf.range(0, p.size).add(i)).reshape(p.shape)))),
      );
    }) as tf.Scalar;
  const reference = tf.variableGrads(loss, [x]);
  const ours = variableGradsFreeing(loss, [x]);
  expect(tf.getGradient(tf.Sum)).not.toBe(stock[0]); // the lean ones were registered and used
  expect(tf.getGradient(tf.Mean)).not.toBe(stock[1]);
  const again = tf.variableGrads(loss, [x]); // tfjs's own pass now records the lean gradient too
  const a = reference.grads.x!.dataSync();
  expect(Array.from(ours.grads.x!.dataSync())).toEqual(Array.from(a));
  expect(Array.from(again.grads.x!.dataSync())).toEqual(Array.from(a));
  expect(ours.value.dataSync()[0]).toBe(reference.value.dataSync()[0]);
  tf.dispose([
    x,
    w,
    reference.value,
    ours.value,
    again.value,
    reference.grads,
    ours.grads,
    again.grads,
  ] as never);
});
