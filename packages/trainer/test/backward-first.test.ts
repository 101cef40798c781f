import { selectBackend } from '@qlip/core';
import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { variableGradsFreeing } from '../src/backward.js';

// Its own file, so this is the first gradient computation of a fresh engine: tfjs creates the engine's
// activeTape on first use, and a check for it once sent every process's first step to tfjs's own pass.
it("frees memory on a process's first gradient computation too", async () => {
  await selectBackend('wasm');
  const x = tf.randomNormal([1024, 64], 0, 1, 'float32', 1); // [N, D]
  const ws = Array.from({ length: 6 }, (_, i) =>
    tf.variable(tf.randomNormal([64, 64], 0, 0.1, 'float32', i + 2), true, `first-w${i}`),
  );
  const f = () => {
    let h: tf.Tensor = x;
    for (const w of ws) {
      const z = tf.reshape(tf.matMul(h, w), [32, 32, 64]); // [B, T, D]
      const centred = tf.sub(z, tf.mean(z, -1, true));
      h = tf.reshape(tf.add(tf.relu(centred), tf.reshape(h, [32, 32, 64])), [1024, 64]); // [N, D]
    }
    return tf.mean(tf.square(h)) as tf.Scalar;
  };
  const peak = async (grads: typeof tf.variableGrads) =>
    (
      await tf.profile(() => {
        const { value, grads: g } = grads(f, ws);
        tf.dispose([value, ...Object.values(g).filter((t): t is tf.Tensor => t !== null)]);
      })
    ).peakBytes - tf.memory().numBytes;
  const ours = await peak(variableGradsFreeing as typeof tf.variableGrads); // first: before tfjs's own pass
  const stock = await peak(tf.variableGrads);
  expect(ours).toBeLessThan(stock * 0.6);
  tf.dispose([x, ...ws]);
});
